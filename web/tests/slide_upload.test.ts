// @vitest-environment node
// The chunked, resumable slide upload against a fake server that keeps the bytes it received:
// what is sent, in which order, from where it resumes, and what is remembered for resuming.
import { describe, expect, it } from 'vitest'
import { ApiError } from '@/api/client'
import {
  abandonUpload, savedUploads, storageKey, uploadSlide, UploadStopped,
  type SavedUpload, type SlideFile, type SlideUploadProgress, type SlideUploadTransport,
} from '@/lib/slide_upload'
import { imageOf } from './fixtures'

const SAMPLE = 3

function memoryStorage() {
  const m = new Map<string, string>()
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
  }
}

/** A file of `n` bytes 0, 1, 2, ... */
function fileOf(n: number, name = 'bm-1.svs', lastModified = 1700000000000): SlideFile {
  return new File([Uint8Array.from({ length: n }, (_, i) => i % 256)], name, { lastModified })
}

/**
 * A server holding one upload. `failures` are thrown by the next PUTs (one each) before the
 * chunk is looked at; a PUT at another offset than the server holds answers 409 like the API.
 */
function fakeServer(opts: { chunk?: number; received?: number; exists?: boolean; finishError?: ApiError } = {}) {
  const s = { id: 7, filename: '', bytes: 0, received: opts.received ?? 0, data: [] as number[], exists: opts.exists ?? false }
  const calls: string[] = []
  const failures: ApiError[] = []
  const upload = () => ({ id: s.id, sample_id: SAMPLE, filename: s.filename, bytes: s.bytes, received: s.received, chunk_bytes: opts.chunk ?? 4, created_by: 1, created_at: 0, updated_at: 0 })
  let beforePut: (() => void) | null = null
  const transport: SlideUploadTransport = {
    async create(sampleId, filename, bytes) {
      calls.push(`create ${filename} ${bytes}`)
      Object.assign(s, { id: 8, filename, bytes, received: 0, data: [], exists: true })
      return upload()
    },
    async get(id) {
      calls.push(`get ${id}`)
      if (!s.exists || id !== s.id) throw new ApiError(404, 'not_found', `no slide upload ${id}`)
      return upload()
    },
    async put(id, offset, chunk) {
      calls.push(`put ${offset}+${chunk.size}`)
      beforePut?.()
      const failure = failures.shift()
      if (failure) throw failure
      if (offset !== s.received)
        throw new ApiError(409, 'conflict', `This upload has ${s.received} bytes; send the part that starts there`, null, 'upload_offset_mismatch', { received: String(s.received) })
      s.data.push(...new Uint8Array(await chunk.arrayBuffer()))
      s.received += chunk.size
      return upload()
    },
    async finish(id) {
      calls.push(`finish ${id}`)
      if (opts.finishError) throw opts.finishError
      if (s.received !== s.bytes) throw new ApiError(409, 'conflict', 'incomplete', null, 'upload_incomplete', {})
      s.exists = false
      return imageOf({ id: 99, kind: 'slide', filename: s.filename })
    },
    async remove(id) {
      calls.push(`remove ${id}`)
      s.exists = false
    },
  }
  return { s, calls, failures, transport, onPut: (fn: () => void) => (beforePut = fn) }
}

const noSleep = async () => {}

describe('uploadSlide', () => {
  it('sends the file in chunks of the server\'s size, in order, then finishes it and forgets it', async () => {
    const server = fakeServer({ chunk: 4 })
    const storage = memoryStorage()
    const progress: SlideUploadProgress[] = []
    const remembered: SavedUpload[][] = []
    const file = fileOf(10)
    const image = await uploadSlide({
      sampleId: SAMPLE, file, transport: server.transport, storage, sleep: noSleep,
      onProgress: (p) => {
        progress.push(p)
        remembered.push(savedUploads(SAMPLE, storage))
      },
    })
    expect(image).toMatchObject({ id: 99, kind: 'slide' })
    expect(server.calls).toEqual(['create bm-1.svs 10', 'put 0+4', 'put 4+4', 'put 8+2', 'finish 8'])
    expect(server.s.data).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(progress.map((p) => p.sent)).toEqual([0, 4, 8, 10])
    expect(progress.every((p) => p.total === 10 && !p.resumed && p.uploadId === 8)).toBe(true)
    // Remembered while it ran, for the same file; forgotten once the slide exists.
    expect(remembered[1]).toEqual([{ uploadId: 8, filename: 'bm-1.svs', size: 10, lastModified: 1700000000000 }])
    expect(storage.getItem(storageKey(SAMPLE))).toBeNull()
  })

  it('continues a remembered upload of the same file where the server stopped', async () => {
    const server = fakeServer({ chunk: 4, received: 8, exists: true })
    Object.assign(server.s, { id: 7, filename: 'bm-1.svs', bytes: 10, data: [0, 1, 2, 3, 4, 5, 6, 7] })
    const storage = memoryStorage()
    storage.setItem(storageKey(SAMPLE), JSON.stringify([{ uploadId: 7, filename: 'bm-1.svs', size: 10, lastModified: 1700000000000 }]))
    const progress: SlideUploadProgress[] = []
    await uploadSlide({ sampleId: SAMPLE, file: fileOf(10), transport: server.transport, storage, sleep: noSleep, onProgress: (p) => progress.push(p) })
    expect(server.calls).toEqual(['get 7', 'put 8+2', 'finish 7'])
    expect(server.s.data).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(progress[0]).toEqual({ uploadId: 7, sent: 8, total: 10, resumed: true })
  })

  it('opens a new upload for another file, or when the server no longer has the remembered one', async () => {
    const storage = memoryStorage()
    storage.setItem(storageKey(SAMPLE), JSON.stringify([{ uploadId: 7, filename: 'bm-1.svs', size: 10, lastModified: 1700000000000 }]))
    const other = fakeServer({ exists: true })
    Object.assign(other.s, { filename: 'bm-1.svs', bytes: 10 })
    // Same name and size, changed since: another file.
    await uploadSlide({ sampleId: SAMPLE, file: fileOf(10, 'bm-1.svs', 1800000000000), transport: other.transport, storage, sleep: noSleep })
    expect(other.calls[0]).toBe('create bm-1.svs 10')
    expect(savedUploads(SAMPLE, storage).map((s) => s.uploadId)).toEqual([7])

    const gone = fakeServer({ exists: false })
    await uploadSlide({ sampleId: SAMPLE, file: fileOf(10), transport: gone.transport, storage, sleep: noSleep })
    expect(gone.calls.slice(0, 2)).toEqual(['get 7', 'create bm-1.svs 10'])
    expect(savedUploads(SAMPLE, storage)).toEqual([])
  })

  it('continues from the server\'s offset when it holds more than this browser thought', async () => {
    const server = fakeServer({ chunk: 4 })
    const storage = memoryStorage()
    // Another tab sent the first six bytes after this one opened the upload.
    server.onPut(() => {
      if (server.s.received === 0) {
        server.s.data = [0, 1, 2, 3, 4, 5]
        server.s.received = 6
      }
    })
    await uploadSlide({ sampleId: SAMPLE, file: fileOf(10), transport: server.transport, storage, sleep: noSleep })
    expect(server.calls).toEqual(['create bm-1.svs 10', 'put 0+4', 'put 6+4', 'finish 8'])
    expect(server.s.data).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it('sends a chunk again after a network failure, pausing longer each time', async () => {
    const server = fakeServer({ chunk: 4 })
    server.failures.push(new ApiError(0, 'network', 'the server could not be reached'), new ApiError(503, 'http_503', 'HTTP 503'))
    const pauses: number[] = []
    await uploadSlide({ sampleId: SAMPLE, file: fileOf(6), transport: server.transport, storage: memoryStorage(), sleep: async (ms) => void pauses.push(ms) })
    expect(server.calls).toEqual(['create bm-1.svs 6', 'put 0+4', 'put 0+4', 'put 0+4', 'put 4+2', 'finish 8'])
    expect(pauses).toEqual([1000, 2000])
    expect(server.s.data).toEqual([0, 1, 2, 3, 4, 5])
  })

  it('gives up after its retries, keeping the upload to resume; a refusal is not retried', async () => {
    const server = fakeServer({ chunk: 4 })
    const storage = memoryStorage()
    for (let i = 0; i < 3; i++) server.failures.push(new ApiError(0, 'network', 'the server could not be reached'))
    await expect(uploadSlide({ sampleId: SAMPLE, file: fileOf(6), transport: server.transport, storage, retries: 2, sleep: noSleep }))
      .rejects.toMatchObject({ status: 0, code: 'network' })
    expect(server.calls.filter((c) => c.startsWith('put'))).toHaveLength(3)
    expect(savedUploads(SAMPLE, storage).map((s) => s.uploadId)).toEqual([8])

    const refused = fakeServer({ chunk: 4 })
    refused.failures.push(new ApiError(403, 'permission_denied', "role 'viewer' may not do this"))
    await expect(uploadSlide({ sampleId: SAMPLE, file: fileOf(6), transport: refused.transport, storage: memoryStorage(), sleep: noSleep }))
      .rejects.toMatchObject({ status: 403 })
    expect(refused.calls).toEqual(['create bm-1.svs 6', 'put 0+4'])
  })

  it('stops when told to, without finishing, and stays resumable', async () => {
    const server = fakeServer({ chunk: 4 })
    const storage = memoryStorage()
    const stop = new AbortController()
    server.onPut(() => {
      if (server.s.received === 4) stop.abort()
    })
    await expect(uploadSlide({ sampleId: SAMPLE, file: fileOf(10), transport: server.transport, storage, signal: stop.signal, sleep: noSleep }))
      .rejects.toBeInstanceOf(UploadStopped)
    expect(server.calls).toEqual(['create bm-1.svs 10', 'put 0+4', 'put 4+4'])
    expect(savedUploads(SAMPLE, storage).map((s) => s.uploadId)).toEqual([8])
  })

  it('forgets and abandons a file the server does not read as a slide', async () => {
    const notSlide = new ApiError(415, 'unsupported_format', 'x.svs is not a slide this server reads', null, 'not_a_slide', { filename: 'x.svs' })
    const server = fakeServer({ chunk: 4, finishError: notSlide })
    const storage = memoryStorage()
    await expect(uploadSlide({ sampleId: SAMPLE, file: fileOf(3), transport: server.transport, storage, sleep: noSleep })).rejects.toBe(notSlide)
    expect(server.calls).toEqual(['create bm-1.svs 3', 'put 0+3', 'finish 8', 'remove 8'])
    expect(savedUploads(SAMPLE, storage)).toEqual([])
  })

  it('abandons an upload on the server and forgets it here', async () => {
    const server = fakeServer({ exists: true })
    const storage = memoryStorage()
    storage.setItem(storageKey(SAMPLE), JSON.stringify([{ uploadId: 7, filename: 'a.svs', size: 10, lastModified: 1 }, { uploadId: 9, filename: 'b.svs', size: 5, lastModified: 2 }]))
    await abandonUpload(SAMPLE, 7, server.transport, storage)
    expect(server.calls).toEqual(['remove 7'])
    expect(savedUploads(SAMPLE, storage).map((s) => s.uploadId)).toEqual([9])
  })

  it('reads a damaged remembered list as empty', () => {
    const storage = memoryStorage()
    storage.setItem(storageKey(SAMPLE), '{not json')
    expect(savedUploads(SAMPLE, storage)).toEqual([])
    storage.setItem(storageKey(SAMPLE), JSON.stringify([{ uploadId: 'x' }, { uploadId: 4, filename: 'a.svs', size: 1, lastModified: 2 }]))
    expect(savedUploads(SAMPLE, storage)).toEqual([{ uploadId: 4, filename: 'a.svs', size: 1, lastModified: 2 }])
  })
})
