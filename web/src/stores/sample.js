// The sample being worked on: its record, patient, images, analysis progress and cells. The field
// viewer, gallery and cell table all read the same cells, and every review change (reclassify,
// confirm, undo) replaces the changed cells with the server's answer, so the three views agree.
import { defineStore } from 'pinia'
import { api, upload } from '@/api/client.js'
import { setTaxonomy, taxonomyState } from '@/lib/taxonomy.js'

const CELL_PAGE = 5000 // the API's largest page

export const useSampleStore = defineStore('sample', {
  state: () => ({
    id: null,
    sample: null,
    patient: null,
    images: [],
    progress: null,
    jobs: [],
    cells: [],
    cellsTotal: 0,
    lastChange: null, // {ids, what} of this session's last change, for the undo hint
  }),
  getters: {
    cellById: (s) => {
      const m = new Map(s.cells.map((c) => [c.id, c]))
      return (id) => m.get(id)
    },
    imageById: (s) => {
      const m = new Map(s.images.map((i) => [i.id, i]))
      return (id) => m.get(id)
    },
    signed: (s) => s.sample?.status === 'signed',
    confirmedCount: (s) => s.cells.filter((c) => c.confirmed).length,
    analysing: (s) => !!s.progress && s.progress.queued + s.progress.running > 0,
  },
  actions: {
    async open(id) {
      if (this.id !== Number(id)) this.$reset()
      this.id = Number(id)
      this.sample = await api.get(`/api/samples/${id}`)
      this.patient = await api.get(`/api/patients/${this.sample.patient_id}`)
      if (!taxonomyState.fromServer) await api.get('/api/taxonomy').then(setTaxonomy).catch(() => {})
      await Promise.all([this.loadImages(), this.loadProgress(), this.loadCells()])
    },
    async reloadSample() {
      this.sample = await api.get(`/api/samples/${this.id}`)
    },
    async loadImages() {
      this.images = (await api.get(`/api/samples/${this.id}/images`)).items
    },
    async loadProgress() {
      const [p, j] = await Promise.all([
        api.get(`/api/samples/${this.id}/progress`),
        api.get('/api/jobs', { sample_id: this.id, limit: 1000 }),
      ])
      this.progress = p
      this.jobs = j.items
    },
    async loadCells() {
      const all = []
      let total = 0
      for (let offset = 0; ; offset += CELL_PAGE) {
        const r = await api.get(`/api/samples/${this.id}/cells`, { limit: CELL_PAGE, offset })
        all.push(...r.items)
        total = r.total
        if (all.length >= total || r.items.length === 0) break
      }
      this.cells = all
      this.cellsTotal = total
    },
    /** Polls once: progress, and images and cells when analyses finished since last time. */
    async refresh() {
      const before = this.progress ? this.progress.done + this.progress.failed : -1
      const imagesBefore = this.images.length
      await this.loadProgress()
      const after = this.progress.done + this.progress.failed
      if (this.progress.images !== imagesBefore) await this.loadImages()
      if (after !== before) await this.loadCells()
    },
    /**
     * Uploads one field image with byte progress; the server checks it by content and queues
     * its analysis. Resolves to the server's item ({image, duplicate, job}).
     */
    async uploadField(file, onProgress) {
      const r = await upload(`/api/samples/${this.id}/images`, [file], onProgress)
      return r.items[0]
    },
    replaceCells(items) {
      const byId = new Map(items.map((c) => [c.id, c]))
      this.cells = this.cells.map((c) => byId.get(c.id) || c)
    },
    /**
     * One all-or-nothing review request.
     * @param {number[]} ids cells
     * @param {{class?: string, confirmed?: boolean}} change
     */
    async review(ids, change) {
      const r = await api.post('/api/cells/review', { ids, ...change })
      this.replaceCells(r.items)
      this.lastChange = { ids, change }
      api.get(`/api/samples/${this.id}/progress`).then((p) => (this.progress = p)).catch(() => {})
      return r.items
    },
    /** Reverts the caller's last change in this sample (server-side, audited). */
    async undo() {
      const r = await api.post(`/api/samples/${this.id}/review/undo`, {})
      this.replaceCells(r.items)
      this.lastChange = null
      api.get(`/api/samples/${this.id}/progress`).then((p) => (this.progress = p)).catch(() => {})
      return r.items
    },
    async retryJob(id) {
      await api.post(`/api/jobs/${id}/retry`, {})
      await this.loadProgress()
    },
    async setStatus(status) {
      this.sample = await api.post(`/api/samples/${this.id}/status`, { status })
    },
  },
})
