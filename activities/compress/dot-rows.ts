/**
 * The hot kernel of VSC's merge step and of the `fixed` guidance projection: `out[j] = rows[j] . x`
 * for n rows of `width` values stored one after another. Four rows per pass over x: each value of x
 * is read once per four products. Every sum runs over i in order, so results do not depend on the
 * row blocking.
 */
export function dotRows(
  rows: Float64Array,
  n: number,
  width: number,
  x: Float64Array,
  xOffset: number,
  out: Float64Array,
): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const b0 = j * width;
    const b1 = b0 + width;
    const b2 = b1 + width;
    const b3 = b2 + width;
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    for (let i = 0; i < width; i++) {
      const v = x[xOffset + i];
      s0 += v * rows[b0 + i];
      s1 += v * rows[b1 + i];
      s2 += v * rows[b2 + i];
      s3 += v * rows[b3 + i];
    }
    out[j] = s0;
    out[j + 1] = s1;
    out[j + 2] = s2;
    out[j + 3] = s3;
  }
  for (; j < n; j++) {
    const b = j * width;
    let acc = 0;
    for (let i = 0; i < width; i++) acc += x[xOffset + i] * rows[b + i];
    out[j] = acc;
  }
}
