/**
 * Whisper's log-mel input, ported from transformers' WhisperFeatureExtractor numpy path
 * (`_np_extract_fbank_features` over audio_utils.spectrogram and mel_filter_bank): the utterance
 * padded with `padding_value` (or cut) to the 30 s window, reflect-padded by n_fft/2 at both ends,
 * periodic Hann window, |rfft|^2 (numpy stores the spectrum as complex64, so it is rounded to float32
 * here too), Slaney-scale Slaney-normalised mel filters from 0 to 8 kHz, log10 of max(1e-10, .), the
 * last frame dropped, floored at max - 8, then (x + 4) / 4 in float32. Within 1e-6 of Python on the
 * fixtures (test/extract/whisper-features.test.ts).
 *
 * A frame whose samples are all zero (the padding after a short utterance) has an all-zero spectrum,
 * so its FFT is skipped: the result is the same to the bit.
 */
import { Fft } from './fft.ts';

export interface LogMelParams {
  melBins: number;
  nFft: number;
  hopLength: number;
  /** The window in samples (chunk_length * sampling_rate = 480000). */
  nSamples: number;
  sampleRate: number;
  paddingValue: number;
}

const MEL_FLOOR = 1e-10;

/** Slaney mel scale (librosa's default), as transformers' hertz_to_mel / mel_to_hertz. */
function hertzToMel(f: number): number {
  const logstep = 27 / Math.log(6.4);
  return f >= 1000 ? 15 + Math.log(f / 1000) * logstep : (3 * f) / 200;
}
function melToHertz(m: number): number {
  const logstep = Math.log(6.4) / 27;
  return m >= 15 ? 1000 * Math.exp(logstep * (m - 15)) : (200 * m) / 3;
}

/** numpy.linspace(start, stop, num) with its endpoint rule. */
function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

/** mel_filter_bank(1 + n_fft/2, melBins, 0, 8000, sampleRate, norm='slaney', mel_scale='slaney'): [bins][mel]. */
export function melFilterBank(freqBins: number, melBins: number, sampleRate: number): Float64Array[] {
  const melFreqs = linspace(hertzToMel(0), hertzToMel(8000), melBins + 2);
  const filterFreqs = melFreqs.map(melToHertz);
  const fftFreqs = linspace(0, Math.floor(sampleRate / 2), freqBins);
  const out: Float64Array[] = [];
  for (let f = 0; f < freqBins; f++) {
    const row = new Float64Array(melBins);
    for (let m = 0; m < melBins; m++) {
      const down = -(filterFreqs[m] - fftFreqs[f]) / (filterFreqs[m + 1] - filterFreqs[m]);
      const up = (filterFreqs[m + 2] - fftFreqs[f]) / (filterFreqs[m + 2] - filterFreqs[m + 1]);
      const enorm = 2 / (filterFreqs[m + 2] - filterFreqs[m]);
      row[m] = Math.max(0, Math.min(down, up)) * enorm;
    }
    out.push(row);
  }
  return out;
}

/** numpy.hanning(n + 1)[:-1], the periodic Hann window, by numpy's own formula. */
function hannPeriodic(n: number): Float64Array {
  const m = n + 1;
  const w = new Float64Array(n);
  for (let k = 0; k < n; k++) w[k] = 0.5 + 0.5 * Math.cos((Math.PI * (1 - m + 2 * k)) / (m - 1));
  return w;
}

export class WhisperFeatures {
  /** Frames of the window (nSamples / hopLength = 3000): the encoder's input length. */
  readonly frames: number;
  private readonly window: Float64Array;
  private readonly fft: Fft;
  /** Per mel bin: its filter's non-zero frequency bins [lo, hi) and weights (the rest adds zeros). */
  private readonly filters: Array<{ lo: number; weights: Float64Array }>;

  constructor(readonly p: LogMelParams) {
    this.frames = Math.floor(p.nSamples / p.hopLength);
    this.window = hannPeriodic(p.nFft);
    this.fft = new Fft(p.nFft);
    const bank = melFilterBank(Math.floor(p.nFft / 2) + 1, p.melBins, p.sampleRate);
    this.filters = [];
    for (let m = 0; m < p.melBins; m++) {
      let lo = 0;
      while (lo < bank.length && bank[lo][m] === 0) lo++;
      let hi = bank.length;
      while (hi > lo && bank[hi - 1][m] === 0) hi--;
      this.filters.push({ lo, weights: Float64Array.from({ length: hi - lo }, (_, i) => bank[lo + i][m]) });
    }
  }

  /** The log-mel window of one utterance (float samples, at most nSamples used): row-major [mel, frames]. */
  logMel(wave: Float32Array): Float32Array {
    const { nFft, hopLength, nSamples, melBins } = this.p;
    const signal = new Float32Array(nSamples).fill(this.p.paddingValue);
    signal.set(wave.subarray(0, nSamples));
    const half = Math.floor(nFft / 2);
    const at = (i: number): number => {
      // numpy.pad mode='reflect' (the edge sample is not repeated)
      let j = i - half;
      if (j < 0) j = -j;
      else if (j >= nSamples) j = 2 * (nSamples - 1) - j;
      return signal[j];
    };
    const bins = half + 1;
    const buf = new Float64Array(nFft);
    const re = new Float64Array(bins);
    const im = new Float64Array(bins);
    const power = new Float64Array(bins);
    const out = new Float32Array(melBins * this.frames);
    const silent = Math.fround(Math.log10(MEL_FLOOR));
    let max = -Infinity;
    for (let t = 0; t < this.frames; t++) {
      let any = false;
      for (let i = 0; i < nFft; i++) {
        buf[i] = at(t * hopLength + i) * this.window[i];
        if (buf[i] !== 0) any = true;
      }
      if (!any) {
        for (let m = 0; m < melBins; m++) out[m * this.frames + t] = silent;
        max = Math.max(max, silent);
        continue;
      }
      this.fft.realForward(buf, re, im);
      for (let k = 0; k < bins; k++) {
        const r = Math.fround(re[k]);
        const c = Math.fround(im[k]);
        power[k] = r * r + c * c;
      }
      for (let m = 0; m < melBins; m++) {
        const { lo, weights } = this.filters[m];
        let s = 0;
        for (let i = 0; i < weights.length; i++) s += weights[i] * power[lo + i];
        const v = Math.fround(Math.log10(Math.max(MEL_FLOOR, s)));
        out[m * this.frames + t] = v;
        if (v > max) max = v;
      }
    }
    const floor = Math.fround(max - 8);
    for (let i = 0; i < out.length; i++) out[i] = Math.fround(Math.fround(Math.max(out[i], floor) + 4) / 4);
    return out;
  }
}
