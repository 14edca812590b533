/**
 * Student's t distribution: the upper quantile that a t interval needs, to double precision.
 *
 * Decision: computed here rather than taken from a package (no statistics package is a dependency, and
 * one function does not justify one). The tail probability is the regularised incomplete beta function,
 * P(T > t) = I_x(df/2, 1/2) / 2 with x = df / (df + t^2), evaluated by its continued fraction (modified
 * Lentz) with ln B(df/2, 1/2) from a Lanczos series (small df) or the Stirling series (large df); the quantile inverts it by Newton steps inside a bisection
 * bracket. test/evaluate/stats.test.ts checks it against scipy.stats.t.ppf to 1e-12.
 */

// Lanczos approximation, g = 7, n = 9 (the coefficients Boost and Numerical Recipes tabulate): relative
// error below 1e-15 for the arguments used here (df/2 and 1/2 and their sums, all >= 0.5).
const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Gamma(x) for x >= 0.5. */
export function lnGamma(x: number): number {
  if (!(x >= 0.5)) throw new RangeError(`lnGamma: argument ${x} is below 0.5`);
  const z = x - 1;
  let s = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) s += LANCZOS[i] / (z + i);
  const t = z + LANCZOS_G + 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

const EPS = 1e-16;
const TINY = 1e-300;

/** Continued fraction of the incomplete beta function (Numerical Recipes `betacf`, modified Lentz). */
function betaFraction(a: number, b: number, x: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 1000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  throw new Error(`incomplete beta: the continued fraction did not converge (a=${a}, b=${b}, x=${x})`);
}

// Stirling series of ln Gamma(x) - ((x - 1/2) ln x - x + ln(2 pi) / 2): B_2k / (2k (2k - 1) x^(2k - 1)).
const STIRLING = [1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360];

function stirlingCorrection(x: number): number {
  const r = 1 / (x * x);
  let s = 0;
  for (let k = STIRLING.length - 1; k >= 0; k--) s = s * r + STIRLING[k];
  return s / x;
}

/**
 * ln B(a, 1/2) = ln Gamma(a) + ln Gamma(1/2) - ln Gamma(a + 1/2). For large a the two ln Gamma values are
 * large and nearly cancel, so their difference is taken from the Stirling series directly (no
 * cancellation; the next term is below 1e-15 for a >= 10); below that the Lanczos values are small.
 */
function lnBetaHalf(a: number): number {
  const lnHalf = 0.5 * Math.log(Math.PI);
  if (a < 10) return lnGamma(a) + lnHalf - lnGamma(a + 0.5);
  const diff = -a * Math.log1p(0.5 / a) - 0.5 * Math.log(a) + 0.5 + stirlingCorrection(a) - stirlingCorrection(a + 0.5);
  return diff + lnHalf;
}

/** Upper tail P(T > t) of Student's t with `df` degrees of freedom, for t >= 0. */
export function tUpperTail(t: number, df: number): number {
  if (t <= 0) return 0.5;
  // I_x(a, 1/2) with x = df / (df + t^2); its logarithms taken without forming 1 - x or ln of x near 1.
  const a = df / 2;
  const t2 = t * t;
  const x = df / (df + t2);
  const xc = t2 / (df + t2);
  const front = Math.exp(-a * Math.log1p(t2 / df) + 0.5 * Math.log(xc) - lnBetaHalf(a));
  const ib =
    x < (a + 1) / (a + 2.5) ? (front * betaFraction(a, 0.5, x)) / a : 1 - (front * betaFraction(0.5, a, xc)) / 0.5;
  return 0.5 * ib;
}

function tDensity(t: number, df: number): number {
  // Gamma((df+1)/2) / (sqrt(df pi) Gamma(df/2)) = 1 / (sqrt(df) B(df/2, 1/2))
  return Math.exp(-lnBetaHalf(df / 2) - 0.5 * Math.log(df) - ((df + 1) / 2) * Math.log1p((t * t) / df));
}

/** The quantile of Student's t at probability p (0 < p < 1), as scipy.stats.t.ppf(p, df). */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`t quantile: probability ${p} is not in (0, 1)`);
  if (!(df > 0) || !Number.isFinite(df)) throw new RangeError(`t quantile: degrees of freedom ${df} must be > 0`);
  if (p === 0.5) return 0;
  // Symmetric: solve P(T > t) = tail for t > 0, then give it the sign of p - 1/2.
  const tail = p > 0.5 ? 1 - p : p;
  const sign = p > 0.5 ? 1 : -1;
  let lo = 0;
  let hi = 1;
  while (tUpperTail(hi, df) > tail) {
    lo = hi;
    hi *= 2;
    if (hi > 1e300) throw new RangeError(`t quantile: no finite quantile for p=${p}, df=${df}`);
  }
  let t = (lo + hi) / 2;
  for (let i = 0; i < 200; i++) {
    const f = tUpperTail(t, df) - tail; // decreasing in t
    if (f > 0) lo = t;
    else if (f < 0) hi = t;
    else break;
    let next = t + f / tDensity(t, df);
    if (!(next > lo && next < hi)) next = (lo + hi) / 2; // Newton left the bracket: bisect
    if (Math.abs(next - t) <= 1e-15 * Math.abs(next) || hi - lo <= 1e-15 * hi) {
      t = next;
      break;
    }
    t = next;
  }
  return sign * t;
}
