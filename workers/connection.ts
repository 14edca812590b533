import { readFileSync } from 'node:fs';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';

/**
 * How to reach a Temporal cluster, from the environment the Temporal CLI also reads:
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS (true/false),
 * TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH (mTLS), TEMPORAL_TLS_SERVER_CA_CERT_PATH,
 * TEMPORAL_TLS_SERVER_NAME. No TEMPORAL_ADDRESS means the embedded local dev server.
 */
export interface ClusterSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  tls?: {
    clientCertPair?: { crt: Buffer; key: Buffer };
    serverRootCACertificate?: Buffer;
    serverNameOverride?: string;
  };
}

export function clusterFromEnv(env: NodeJS.ProcessEnv = process.env): ClusterSettings | null {
  const address = env.TEMPORAL_ADDRESS;
  if (!address) return null;
  const certPath = env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  const keyPath = env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  const caPath = env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  const wantTls = env.TEMPORAL_TLS
    ? env.TEMPORAL_TLS === 'true' || env.TEMPORAL_TLS === '1'
    : Boolean(certPath || apiKey);
  if ((certPath && !keyPath) || (keyPath && !certPath)) {
    throw new Error('set both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH for mTLS');
  }
  return {
    address,
    namespace: env.TEMPORAL_NAMESPACE || 'default',
    apiKey,
    tls: wantTls
      ? {
          clientCertPair: certPath && keyPath ? { crt: readFileSync(certPath), key: readFileSync(keyPath) } : undefined,
          serverRootCACertificate: caPath ? readFileSync(caPath) : undefined,
          serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME || undefined,
        }
      : undefined,
  };
}

export async function connectClient(s: ClusterSettings): Promise<Connection> {
  const opts: ConnectionOptions = { address: s.address, tls: s.tls ?? false, apiKey: s.apiKey };
  return Connection.connect(opts);
}

export async function connectWorker(s: ClusterSettings): Promise<NativeConnection> {
  const opts: NativeConnectionOptions = { address: s.address, tls: s.tls ?? false, apiKey: s.apiKey };
  return NativeConnection.connect(opts);
}
