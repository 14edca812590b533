#!/usr/bin/env node
// The `mer` command. The project is TypeScript run directly through tsx (no build step), so the
// bin registers tsx's loader and then loads the real entry point.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
