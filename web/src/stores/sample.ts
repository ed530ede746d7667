// The sample being worked on: its record, patient, images, analysis progress and cells. The field
// viewer, gallery and cell table all read the same cells, and every review change (reclassify,
// confirm, undo) replaces the changed cells with the server's answer, so the three views agree.
import { defineStore } from 'pinia'
import { api, upload, type Schemas } from '@/api/client'
import { isRemoved, setTaxonomy, taxonomyState } from '@/lib/taxonomy'
import type { Box } from '@/lib/box_edit'
import type { Region } from '@/lib/slide_areas'

const CELL_PAGE = 5000 // the API's largest page

/** One review change for many cells: a new class, a confirmation and/or a pre-verification. */
export type ReviewChange = { class?: string; confirmed?: boolean; verified?: boolean }

export const useSampleStore = defineStore('sample', {
  state: () => ({
    id: null as number | null,
    sample: null as Schemas['Sample'] | null,
    patient: null as Schemas['Patient'] | null,
    images: [] as Schemas['Image'][],
    progress: null as Schemas['SampleProgress'] | null,
    jobs: [] as Schemas['Job'][],
    cells: [] as Schemas['Cell'][],
    cellsTotal: 0,
    // per-class totals and whether the sample looks like the classifier's training lab (domain)
    summary: null as Schemas['CellSummary'] | null,
    // this session's last change, for the undo hint
    lastChange: null as { ids: number[]; change: ReviewChange } | null,
  }),
  getters: {
    cellById: (s) => {
      const m = new Map(s.cells.map((c) => [c.id, c]))
      return (id: number) => m.get(id)
    },
    imageById: (s) => {
      const m = new Map(s.images.map((i) => [i.id, i]))
      return (id: number) => m.get(id)
    },
    signed: (s) => s.sample?.status === 'signed',
    confirmedCount: (s) => s.cells.filter((c) => c.confirmed && !isRemoved(c)).length,
    analysing: (s) => !!s.progress && s.progress.queued + s.progress.running > 0,
  },
  actions: {
    async open(id: number | string) {
      if (this.id !== Number(id)) this.$reset()
      this.id = Number(id)
      const sample = await api.get('/api/samples/{id}', { path: { id: this.id } })
      this.sample = sample
      this.patient = await api.get('/api/patients/{id}', { path: { id: sample.patient_id } })
      // The sample's own vocabulary: marrow samples use the marrow taxonomy, blood the blood one.
      if (!taxonomyState.fromServer || taxonomyState.specimen !== sample.specimen)
        await api.get('/api/taxonomy', { query: { specimen: sample.specimen } }).then(setTaxonomy).catch(() => {})
      await Promise.all([this.loadImages(), this.loadProgress(), this.loadCells()])
    },
    async reloadSample() {
      this.sample = await api.get('/api/samples/{id}', { path: { id: this.sampleId() } })
    },
    async loadImages() {
      this.images = (await api.get('/api/samples/{id}/images', { path: { id: this.sampleId() } })).items
    },
    async loadProgress() {
      const [p, j] = await Promise.all([
        api.get('/api/samples/{id}/progress', { path: { id: this.sampleId() } }),
        api.get('/api/jobs', { query: { sample_id: this.sampleId(), limit: 1000 } }),
      ])
      this.progress = p
      this.jobs = j.items
    },
    async loadCells() {
      const all: Schemas['Cell'][] = []
      let total = 0
      for (let offset = 0; ; offset += CELL_PAGE) {
        const r = await api.get('/api/samples/{id}/cells', { path: { id: this.sampleId() }, query: { limit: CELL_PAGE, offset } })
        all.push(...r.items)
        total = r.total
        if (all.length >= total || r.items.length === 0) break
      }
      this.cells = all
      this.cellsTotal = total
      await this.loadSummary()
    },
    async loadSummary() {
      this.summary = await api.get('/api/samples/{id}/cells/summary', { path: { id: this.sampleId() } })
    },
    /** Polls once: progress, and images and cells when analyses finished since last time. */
    async refresh() {
      const before = this.progress ? this.progress.done + this.progress.failed : -1
      const imagesBefore = this.images.length
      await this.loadProgress()
      const p = this.progress as Schemas['SampleProgress'] | null
      if (!p) return
      const after = p.done + p.failed
      if (p.images !== imagesBefore) await this.loadImages()
      if (after !== before) await this.loadCells()
    },
    /**
     * Uploads one field image with byte progress; the server checks it by content and queues
     * its analysis. Resolves to the server's item ({image, duplicate, job}).
     */
    async uploadField(file: File, onProgress: (fraction: number) => void) {
      const r = await upload('/api/samples/{id}/images', { id: this.sampleId() }, [file], onProgress)
      return r.items[0]
    },
    /**
     * Queues the analysis of an area of a slide (level-0 pixels, whole numbers); the server
     * refuses an area outside the slide or larger than it analyses at once. The job is listed at
     * once, and the next poll follows its progress.
     */
    async analyseArea(imageId: number, region: Region) {
      const job = await api.post('/api/images/{id}/areas', { x: region.x, y: region.y, w: region.w, h: region.h }, { path: { id: imageId } })
      this.jobs = [...this.jobs.filter((j) => j.id !== job.id), job]
      return job
    },
    replaceCells(items: Schemas['Cell'][]) {
      const byId = new Map(items.map((c) => [c.id, c]))
      this.cells = this.cells.map((c) => byId.get(c.id) || c)
    },
    /** One all-or-nothing review request: `change` for every cell of `ids`. */
    async review(ids: number[], change: ReviewChange) {
      const r = await api.post('/api/cells/review', { ids, ...change })
      this.replaceCells(r.items)
      this.lastChange = { ids, change }
      this.reloadProgress()
      return r.items
    },
    /** Reverts the caller's last change in this sample (server-side, audited). */
    async undo() {
      const r = await api.post('/api/samples/{id}/review/undo', null, { path: { id: this.sampleId() } })
      this.replaceCells(r.items)
      this.lastChange = null
      this.afterFieldEdit()
      return r.items
    },
    /** Adds a cell the detector missed (classified by the server at once); resolves to the cell. */
    async addCell(imageId: number, box: Box, cls?: string) {
      const cell = await api.post('/api/images/{id}/cells', cls ? { ...box, class: cls } : box, { path: { id: imageId } })
      this.cells = [...this.cells, cell]
      this.cellsTotal += 1
      this.afterFieldEdit()
      return cell
    },
    /** Removes a false box: it becomes not_a_cell, out of every count, kept and undoable. */
    async removeCell(id: number) {
      const cell = await api.del('/api/cells/{id}', { path: { id } })
      this.replaceCells([cell])
      this.afterFieldEdit()
      return cell
    },
    async restoreCell(id: number) {
      const cell = await api.post('/api/cells/{id}/restore', null, { path: { id } })
      this.replaceCells([cell])
      this.afterFieldEdit()
      return cell
    },
    /** Moves or resizes a box; the server re-classifies the new crop. */
    async moveCell(id: number, box: Box) {
      const cell = await api.put('/api/cells/{id}/box', box, { path: { id } })
      this.replaceCells([cell])
      this.afterFieldEdit()
      return cell
    },
    /** Totals and progress follow an edit of the field's boxes. */
    afterFieldEdit() {
      this.reloadProgress()
      this.loadSummary().catch(() => {})
    },
    async retryJob(id: number) {
      await api.post('/api/jobs/{id}/retry', null, { path: { id } })
      await this.loadProgress()
    },
    /** The declared scale of the sample's fields (micrometres per pixel); null removes it. */
    async setScale(umPerPx: number | null) {
      this.sample = await api.patch('/api/samples/{id}', { um_per_px: umPerPx || 0 }, { path: { id: this.sampleId() } })
    },
    async setStatus(status: Schemas['Sample']['status']) {
      this.sample = await api.post('/api/samples/{id}/status', { status }, { path: { id: this.sampleId() } })
    },
    /** Progress in the background after a change (the counts on screen follow). */
    reloadProgress() {
      api
        .get('/api/samples/{id}/progress', { path: { id: this.sampleId() } })
        .then((p) => (this.progress = p))
        .catch(() => {})
    },
    sampleId(): number {
      if (this.id === null) throw new Error('no sample is open')
      return this.id
    },
  },
})
