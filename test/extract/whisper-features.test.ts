/**
 * Whisper's log-mel input against transformers' WhisperFeatureExtractor (numpy path) on the same
 * generated audio: 80 and 128 mel bins, short utterances padded to the 30 s window and one cut at it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Fft } from '../../activities/extract/fft.ts';
import { WhisperFeatures } from '../../activities/extract/whisper-features.ts';
import { audioExpected } from './audio-expected.ts';
import { lcgSamples } from './inputs.ts';

/** The references keep 7 significant digits; the port matches them to that (the issue asks 1e-4). */
const MEL_TOL = 1e-6;

function naiveDft(x: Float64Array): { re: Float64Array; im: Float64Array } {
  const n = x.length;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * ((j * k) % n)) / n;
      re[k] += x[j] * Math.cos(a);
      im[k] += x[j] * Math.sin(a);
    }
  }
  return { re, im };
}

describe('FFT', () => {
  test('equals the direct DFT for Whisper’s 400 and sizes with other prime factors', () => {
    for (const n of [400, 1, 2, 21, 77, 64]) {
      const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) + ((i * 7919) % 13) / 13);
      const fft = new Fft(n);
      const half = Math.floor(n / 2) + 1;
      const re = new Float64Array(half);
      const im = new Float64Array(half);
      fft.realForward(x, re, im);
      const want = naiveDft(x);
      for (let k = 0; k < half; k++) {
        assert.ok(Math.abs(re[k] - want.re[k]) < 1e-9 && Math.abs(im[k] - want.im[k]) < 1e-9, `n=${n} bin ${k}`);
      }
    }
  });
});

for (const family of audioExpected.whisper) {
  describe(`log-mel, ${family.melBins} bins (${family.folder})`, () => {
    const features = new WhisperFeatures({
      melBins: family.melBins,
      nFft: 400,
      hopLength: 160,
      nSamples: 480000,
      sampleRate: 16000,
      paddingValue: 0,
    });

    test('columns and the window mean equal transformers', () => {
      assert.equal(features.frames, 3000);
      for (const c of family.cases) {
        const pcm = lcgSamples(c.samples, c.seed);
        const wave = Float32Array.from(pcm.subarray(0, 480000), (v) => v / 32768);
        const mel = features.logMel(wave);
        assert.equal(mel.length, family.melBins * 3000);
        let worst = 0;
        c.melFrames.forEach((t, j) => {
          for (let m = 0; m < family.melBins; m++) {
            worst = Math.max(worst, Math.abs(mel[m * 3000 + t] - c.mel[j * family.melBins + m]));
          }
        });
        assert.ok(worst <= MEL_TOL, `${c.name}: log-mel differs by ${worst}`);
        let sum = 0;
        for (const v of mel) sum += v;
        assert.ok(
          Math.abs(sum / mel.length - c.melMean) <= 1e-6,
          `${c.name}: mean ${sum / mel.length} vs ${c.melMean}`,
        );
        // the padding after a short utterance is the floor (max - 8, scaled), not zero
        if (c.samples < 470000) {
          const floor = mel.reduce((a, b) => Math.min(a, b), Infinity);
          assert.ok(floor < -0.5 && floor === mel[2999] && floor === mel[(family.melBins - 1) * 3000 + 2999]);
        }
      }
    });
  });
}
