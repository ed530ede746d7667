// Chunked, resumable upload of one whole-slide file (docs/API.md, slide uploads). Slides are
// gigabytes: the file is read with File.slice() one chunk at a time and never held whole in
// memory; each chunk is a PUT at the offset the server has reached, so an upload interrupted by a
// network failure, a closed tab or a restart continues where it stopped:
//   1. POST /api/samples/{id}/slide-uploads {filename, bytes} opens an upload (or, when this
//      browser remembers one for the same file, GET /api/slide-uploads/{id} says how far it got);
//   2. PUT /api/slide-uploads/{id}?offset=N with at most chunk_bytes bytes, until received = bytes;
//      a 409 upload_offset_mismatch names the server's offset (params.received): continue there;
//      a chunk that fails on the way (no connection, 5xx, 408, 429) is sent again after a pause
//      that doubles each time;
//   3. POST /api/slide-uploads/{id}/finish turns the file into the sample's slide image.
// Which upload belongs to which file is kept in localStorage under the sample, as
// {uploadId, filename, size, lastModified}: the same file chosen again is the same upload.
import { api, ApiError, putBytes, type Schemas } from '@/api/client'

export type SlideUpload = Schemas['SlideUpload']
export type SlideImage = Schemas['Image']

/** The five calls of a slide upload; tests give their own, the app uses the API (apiTransport). */
export interface SlideUploadTransport {
  create(sampleId: number, filename: string, bytes: number): Promise<SlideUpload>
  get(uploadId: number): Promise<SlideUpload>
  put(uploadId: number, offset: number, chunk: Blob, signal?: AbortSignal): Promise<SlideUpload>
  finish(uploadId: number): Promise<SlideImage>
  remove(uploadId: number): Promise<void>
}

export const apiTransport: SlideUploadTransport = {
  create: (sampleId, filename, bytes) => api.post('/api/samples/{id}/slide-uploads', { filename, bytes }, { path: { id: sampleId } }),
  get: (uploadId) => api.get('/api/slide-uploads/{id}', { path: { id: uploadId } }),
  put: (uploadId, offset, chunk, signal) => putBytes('/api/slide-uploads/{id}', { id: uploadId }, { offset }, chunk, signal),
  finish: (uploadId) => api.post('/api/slide-uploads/{id}/finish', null, { path: { id: uploadId } }),
  remove: async (uploadId) => {
    await api.del('/api/slide-uploads/{id}', { path: { id: uploadId } })
  },
}

/** What this browser remembers of an unfinished upload, to find it again for the same file. */
export interface SavedUpload {
  uploadId: number
  filename: string
  size: number
  lastModified: number
}

/** The file being uploaded: a File, or any Blob with a name and a modification time. */
export type SlideFile = Blob & { name: string; lastModified: number }

type KeyValueStore = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>

const STORAGE_PREFIX = 'marrowscope.slideUploads.'

/** localStorage key of a sample's unfinished slide uploads. */
export function storageKey(sampleId: number): string {
  return `${STORAGE_PREFIX}${sampleId}`
}

function isSaved(v: unknown): v is SavedUpload {
  if (!v || typeof v !== 'object') return false
  const o = v as Record<string, unknown>
  return Number.isInteger(o.uploadId) && typeof o.filename === 'string' && Number.isFinite(o.size) && Number.isFinite(o.lastModified)
}

/** The sample's remembered uploads; an unreadable entry (edited by hand, older app) reads as none. */
export function savedUploads(sampleId: number, storage: KeyValueStore | null = browserStorage()): SavedUpload[] {
  if (!storage) return []
  try {
    const parsed: unknown = JSON.parse(storage.getItem(storageKey(sampleId)) || '[]')
    return Array.isArray(parsed) ? parsed.filter(isSaved) : []
  } catch {
    return []
  }
}

function writeSaved(sampleId: number, list: SavedUpload[], storage: KeyValueStore | null) {
  if (!storage) return
  // A full or disabled localStorage costs only resumability, never the upload itself.
  try {
    if (list.length) storage.setItem(storageKey(sampleId), JSON.stringify(list))
    else storage.removeItem(storageKey(sampleId))
  } catch {
    /* not remembered: this upload cannot be resumed after a reload */
  }
}

function sameFile(s: SavedUpload, file: SlideFile): boolean {
  return s.filename === file.name && s.size === file.size && s.lastModified === file.lastModified
}

/** Forgets a remembered upload (finished, abandoned, or gone from the server). */
export function forgetUpload(sampleId: number, uploadId: number, storage: KeyValueStore | null = browserStorage()): void {
  writeSaved(sampleId, savedUploads(sampleId, storage).filter((s) => s.uploadId !== uploadId), storage)
}

function remember(sampleId: number, entry: SavedUpload, storage: KeyValueStore | null) {
  const rest = savedUploads(sampleId, storage).filter((s) => s.uploadId !== entry.uploadId && !(s.filename === entry.filename && s.size === entry.size && s.lastModified === entry.lastModified))
  writeSaved(sampleId, [...rest, entry], storage)
}

function browserStorage(): KeyValueStore | null {
  try {
    return globalThis.localStorage ?? null
  } catch {
    return null // storage blocked by the browser's settings
  }
}

/** Thrown when the caller stopped the upload (its AbortSignal fired). */
export class UploadStopped extends Error {
  constructor() {
    super('the upload was stopped')
    this.name = 'UploadStopped'
  }
}

export interface SlideUploadProgress {
  uploadId: number
  /** bytes the server holds */
  sent: number
  /** the file's size in bytes */
  total: number
  /** whether this upload continued one begun earlier */
  resumed: boolean
}

export interface SlideUploadOptions {
  sampleId: number
  file: SlideFile
  transport?: SlideUploadTransport
  /** where unfinished uploads are remembered; null: nowhere (no resuming after a reload) */
  storage?: KeyValueStore | null
  onProgress?: (p: SlideUploadProgress) => void
  /** called once the upload's id is known (to abandon it on Cancel) */
  onStart?: (uploadId: number) => void
  /** called before the finish request: every byte is on the server */
  onFinishing?: () => void
  signal?: AbortSignal
  /** tries per chunk after the first (default 4) */
  retries?: number
  /** pause before retry `attempt` (1, 2, ...), ms (default 1 s, 2 s, 4 s, ... at most 30 s) */
  backoffMs?: (attempt: number) => number
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

const MAX_OFFSET_CORRECTIONS = 8

/** Whether sending the same request again may succeed: the connection or the server failed. */
export function isTransient(e: unknown): boolean {
  if (!(e instanceof ApiError)) return false
  return e.status === 0 || e.status === 408 || e.status === 429 || e.status >= 500
}

export function defaultBackoff(attempt: number): number {
  return Math.min(30000, 1000 * 2 ** (attempt - 1))
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new UploadStopped())
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    function onAbort() {
      clearTimeout(timer)
      reject(new UploadStopped())
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

function checkSignal(signal?: AbortSignal) {
  if (signal?.aborted) throw new UploadStopped()
}

/** The offset the server names in a 409 upload_offset_mismatch, or null when it names none usable. */
function serverOffset(e: unknown, size: number): number | null {
  if (!(e instanceof ApiError) || e.status !== 409 || e.reason !== 'upload_offset_mismatch') return null
  const raw = e.params.received
  if (raw === undefined || !/^\d+$/.test(raw)) return null
  const n = Number(raw)
  return n <= size ? n : null
}

/**
 * Finds the remembered upload of this file on the server, or opens a new one.
 * A remembered upload the server no longer has (404: finished, abandoned or expired) or that no
 * longer fits the file is forgotten and a new one is opened.
 */
async function openUpload(o: Required<Pick<SlideUploadOptions, 'sampleId' | 'file' | 'transport'>> & { storage: KeyValueStore | null }) {
  const saved = savedUploads(o.sampleId, o.storage).find((s) => sameFile(s, o.file))
  if (saved) {
    try {
      const u = await o.transport.get(saved.uploadId)
      if (u.sample_id === o.sampleId && u.bytes === o.file.size && u.filename === o.file.name && u.received <= u.bytes) return { upload: u, resumed: true }
      forgetUpload(o.sampleId, saved.uploadId, o.storage)
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e
      forgetUpload(o.sampleId, saved.uploadId, o.storage)
    }
  }
  const u = await o.transport.create(o.sampleId, o.file.name, o.file.size)
  remember(o.sampleId, { uploadId: u.id, filename: o.file.name, size: o.file.size, lastModified: o.file.lastModified }, o.storage)
  return { upload: u, resumed: false }
}

/**
 * Uploads `file` to the sample as a slide, continuing an earlier upload of the same file.
 * @returns the new slide image (kind 'slide')
 * @throws UploadStopped when `signal` fired; the ApiError of a refusal, or of the last try of a
 *   chunk that kept failing (the upload stays remembered: choosing the file again resumes it)
 */
export async function uploadSlide(opts: SlideUploadOptions): Promise<SlideImage> {
  const transport = opts.transport ?? apiTransport
  const storage = opts.storage === undefined ? browserStorage() : opts.storage
  const retries = opts.retries ?? 4
  const backoff = opts.backoffMs ?? defaultBackoff
  const sleep = opts.sleep ?? abortableSleep
  const { file, sampleId, signal } = opts
  const size = file.size

  checkSignal(signal)
  const { upload, resumed } = await openUpload({ sampleId, file, transport, storage })
  const uploadId = upload.id
  opts.onStart?.(uploadId)
  // The server's chunk size bounds each PUT; a nonsensical one would loop forever or send too much.
  const chunk = upload.chunk_bytes
  if (!Number.isInteger(chunk) || chunk <= 0) throw new Error(`slide upload ${uploadId}: the server's chunk size ${chunk} is not a positive whole number`)
  let offset = upload.received
  const report = () => opts.onProgress?.({ uploadId, sent: offset, total: size, resumed })
  report()

  let corrections = 0
  while (offset < size) {
    checkSignal(signal)
    const end = Math.min(size, offset + chunk)
    let attempt = 0
    for (;;) {
      try {
        const u = await transport.put(uploadId, offset, file.slice(offset, end), signal)
        if (!(u.received > offset && u.received <= size)) throw new Error(`slide upload ${uploadId}: the server answered ${u.received} bytes received after a chunk at ${offset}`)
        offset = u.received
        corrections = 0
        break
      } catch (e) {
        checkSignal(signal)
        const there = serverOffset(e, size)
        if (there !== null) {
          // The server holds a different amount than this browser thought (another tab, a lost
          // answer): continue from its offset, which is not a failure of this chunk.
          if (++corrections > MAX_OFFSET_CORRECTIONS) throw e
          offset = there
          break
        }
        if (e instanceof ApiError && e.status === 404) forgetUpload(sampleId, uploadId, storage)
        if (!isTransient(e) || attempt >= retries) throw e
        attempt += 1
        await sleep(backoff(attempt), signal)
      }
    }
    report()
  }

  checkSignal(signal)
  opts.onFinishing?.()
  for (let attempt = 0; ; ) {
    try {
      const image = await transport.finish(uploadId)
      forgetUpload(sampleId, uploadId, storage)
      return image
    } catch (e) {
      checkSignal(signal)
      if (e instanceof ApiError && [404, 415, 422].includes(e.status)) {
        // Gone, not a slide the server reads (415) or a damaged one (422): sending the same bytes
        // again cannot help. The server closes a refused upload itself; the DELETE makes sure.
        forgetUpload(sampleId, uploadId, storage)
        if (e.status !== 404) await transport.remove(uploadId).catch(() => {})
      }
      if (!isTransient(e) || attempt >= retries) throw e
      attempt += 1
      await sleep(backoff(attempt), signal)
    }
  }
}

/** Abandons an upload on the server (DELETE) and forgets it here; one already gone is forgotten too. */
export async function abandonUpload(sampleId: number, uploadId: number, transport: SlideUploadTransport = apiTransport,
  storage: KeyValueStore | null = browserStorage()): Promise<void> {
  try {
    await transport.remove(uploadId)
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e
  }
  forgetUpload(sampleId, uploadId, storage)
}
