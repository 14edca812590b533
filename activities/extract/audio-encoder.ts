/**
 * The speech encoder of an audio model folder, by config.json's model_type: wav2vec2, HuBERT, WavLM
 * and data2vec-audio read the raw waveform (raw-audio-encoder.ts), Whisper a log-mel window
 * (whisper-encoder.ts). The families are listed in schemas/encoder-families.ts; readModelFolder has
 * already refused any other model_type.
 */
import type { AudioModelType } from '../../schemas/encoder-families.ts';
import type { OnnxRuntimeSettings } from '../../schemas/runtime.ts';
import { ErrorTypes, MerError } from '../common/errors.ts';
import type { AudioEncoder } from './audio-input.ts';
import type { ModelFolder } from './model-folder.ts';
import { RawAudioEncoder } from './raw-audio-encoder.ts';
import { WhisperAudioEncoder } from './whisper-encoder.ts';

export type { AudioEncoder, AudioInput, InputTensor } from './audio-input.ts';

export async function openAudioEncoder(folder: ModelFolder, runtime: OnnxRuntimeSettings): Promise<AudioEncoder> {
  const type = folder.config.model_type as AudioModelType;
  switch (type) {
    case 'wav2vec2':
    case 'hubert':
    case 'wavlm':
    case 'data2vec-audio':
      return RawAudioEncoder.open(folder, runtime, type);
    case 'whisper':
      return WhisperAudioEncoder.open(folder, runtime);
    default:
      throw new MerError(
        ErrorTypes.ModelMismatch,
        `${folder.dir}/config.json: model_type ${JSON.stringify(folder.config.model_type)} is not an audio encoder`,
        { folder: folder.dir },
      );
  }
}
