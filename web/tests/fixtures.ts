// Whole API objects for component and store tests, typed by the generated API schema: a test
// names only the fields it is about, and a field the server drops or renames is a type error here.
import type { Schemas } from '@/api/client'

export function cellOf(p: Partial<Schemas['Cell']> & { id: number }): Schemas['Cell'] {
  const cls = p.reviewed_class ?? p.suggested_class ?? 'lymphocyte'
  return {
    job_id: 1, cell_index: p.id, image_id: 1, sample_id: 1,
    x1: 0, y1: 0, x2: 10, y2: 10, det_score: 0.9,
    suggested_class: 'lymphocyte', probability: 0.9, top_k: [], entropy: 0.1, flagged: false,
    detector_version: 'test', classifier_version: 'test', reviewed_class: null, reviewer_id: null,
    confirmed: false, reviewed_at: null, created_at: 0, updated_at: 0, crop_side: null,
    class: cls, reviewer: null, verified: false, verified_by: null, verified_at: null, verifier: null, origin: 'model',
    ...p,
  }
}

export function imageOf(p: Partial<Schemas['Image']> & { id: number }): Schemas['Image'] {
  return {
    sample_id: 1, sha256: '0'.repeat(64), filename: `field-${p.id}.png`, format: 'PNG',
    width: 64, height: 48, bytes: 100, thumbnail_sha256: null, uploaded_by: 1, created_at: 0, kind: 'field', mpp: null,
    ...p,
  }
}

export function jobOf(p: Partial<Schemas['Job']> & { id: number }): Schemas['Job'] {
  return {
    kind: 'analyse_image', image_id: 1, sample_id: 1, status: 'queued', progress: 0, attempts: 0, error: null,
    worker: null, lease_until: null, created_at: 0, started_at: null, finished_at: null, region: null, eta_s: null,
    ...p,
  }
}

export function progressOf(p: Partial<Schemas['SampleProgress']> = {}): Schemas['SampleProgress'] {
  return {
    images: 0, queued: 0, running: 0, done: 0, failed: 0, cancelled: 0, cells: 0, reviewed_cells: 0,
    count_target: 500, fraction: 0,
    ...p,
  }
}

export function sampleOf(p: Partial<Schemas['Sample']> & { id: number }): Schemas['Sample'] {
  return {
    patient_id: 1, accession: `BM-${p.id}`, specimen: 'bone_marrow', collection_date: null,
    count_target: 500, status: 'draft', notes: '', um_per_px: null, signed_by: null, signed_at: null, created_at: 0,
    updated_at: 0,
    ...p,
  }
}

export function userOf(p: Partial<Schemas['User']> & { id: number }): Schemas['User'] {
  return {
    username: `user${p.id}`, role: 'viewer', enabled: true, display_name: '', email: '', phone: '',
    department: '', gender: '', avatar_sha256: null, created_at: 0, updated_at: 0, last_login_at: null,
    ...p,
  }
}
