// Small display helpers shared by the pages.

/** Unix milliseconds -> "2026-11-26 14:03" in local time ('' for null). */
export function formatTime(ms) {
  if (ms === null || ms === undefined || ms === 0) return ''
  const d = new Date(Number(ms))
  if (Number.isNaN(d.getTime())) return ''
  const p = (n) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`
}

/** 0.4123 -> "41.2%". */
export function percent(fraction, digits = 1) {
  if (fraction === null || fraction === undefined || Number.isNaN(Number(fraction))) return ''
  return `${(Number(fraction) * 100).toFixed(digits)}%`
}

/** Bytes -> "1.2 MB" (slides: "3.4 GB"). */
export function formatBytes(n) {
  if (!Number.isFinite(n)) return ''
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`
}

/** Start of today (local) in Unix ms. */
export function startOfToday(now = new Date()) {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime()
}
