import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import DifferentialTable from '@/components/DifferentialTable.vue'
import { makeI18n } from '@/i18n/index'

// The shape of GET /api/samples/{id}/differential -> differential (src/report/differential.h).
const differential = {
  specimen: 'bone_marrow', taxonomy: 'pbc11', denominator: 200, total_excluded: 3, decimals: 0,
  rows: [
    { id: 'promyelocyte', names: { en: 'Promyelocyte', zh: '早幼粒细胞' }, colour: '#ff7f0e', count: 10, counted: true, percent: 5, display: '5', range: { low: 2, high: 6 }, flag: 'normal' },
    { id: 'lymphocyte', names: { en: 'Lymphocyte', zh: '淋巴细胞' }, colour: '#1f77b4', count: 60, counted: true, percent: 30, display: '30', range: { low: 9, high: 19 }, flag: 'high' },
    { id: 'erythroblast', names: { en: 'Erythroblast', zh: '有核红细胞' }, colour: '#c5172e', count: 20, counted: true, percent: 10, display: '10', range: { low: 18, high: 32 }, flag: 'low' },
    { id: 'platelet', names: { en: 'Platelet', zh: '血小板' }, colour: '#c7c7c7', count: 3, counted: false, percent: null, display: '', range: null, flag: 'none' },
  ],
  me_ratio: { numerator: 110, denominator: 20, value: 5.5, display: '5.50:1', range: { low: 2, high: 4 }, flag: 'high' },
  i_mg_ratio: { numerator: 10, denominator: 40, value: 0.25, display: '0.25:1', range: null, flag: 'none' },
  blasts: { count: 0, percent: 0, interval: { low: 0, high: 0.0188 }, confidence: 0.95, display: '0 % (95% CI 0.0-1.9 %)' },
  progress: { counted: 200, target: 500, fraction: 0.4, reached: false },
  unreviewed: 0,
}

function render(locale = 'en') {
  return mount(DifferentialTable, { props: { differential }, global: { plugins: [makeI18n(locale)] } })
}

describe('DifferentialTable', () => {
  it('lists the rows in the order given (hematology order) with counts and printed percentages', () => {
    const w = render()
    const rows = w.findAll('tbody tr')
    expect(rows.map((r) => r.attributes('data-class'))).toEqual(['promyelocyte', 'lymphocyte', 'erythroblast', 'platelet'])
    expect(rows[1].find('.count').text()).toBe('60')
    expect(rows[1].find('.pct').text()).toBe('30')
    expect(rows[1].text()).toContain('9–19')
    expect(rows[0].text()).toContain('Promyelocyte')
  })
  it('flags values outside the reference range and marks excluded classes', () => {
    const w = render()
    const rows = w.findAll('tbody tr')
    expect(rows[1].find('.flag').text()).toContain('↑')
    expect(rows[1].find('.flag').text()).toContain('high')
    expect(rows[2].find('.flag').text()).toContain('↓')
    expect(rows[0].find('.flag').text()).toBe('')
    expect(rows[3].classes()).toContain('excluded')
    expect(rows[3].text()).toContain('not counted')
  })
  it('shows the total, the M:E ratio and blasts with their interval', () => {
    const w = render()
    expect(w.find('[data-test=denominator]').text()).toBe('200')
    expect(w.find('[data-test=me-ratio]').text()).toBe('5.50:1')
    expect(w.find('[data-test=blasts]').text()).toContain('95% CI 0.0-1.9')
    expect(w.text()).toContain('3 excluded')
  })
  it('leaves M:E out for blood and adds the CI when the display lacks it', () => {
    const blood = { ...differential, specimen: 'peripheral_blood', me_ratio: null, blasts: { ...differential.blasts, display: '0 %' } }
    const w = mount(DifferentialTable, { props: { differential: blood }, global: { plugins: [makeI18n('en')] } })
    expect(w.find('[data-test=me-ratio]').exists()).toBe(false)
    expect(w.find('[data-test=blasts]').text()).toContain('95% CI 0.0–1.9%')
    expect(w.text()).toContain('white cells')
  })
  it('shows I:Mg, marks review-only classes and says when neutrophils are combined', () => {
    const rows = [...differential.rows, { id: 'blast', names: { en: 'Blast', zh: '原始细胞' }, colour: '#d62728', count: 2, counted: true, percent: 1, display: '1', range: null, flag: 'none', review_only: true }]
    const w = mount(DifferentialTable, { props: { differential: { ...differential, rows, neutrophils_combined: true } }, global: { plugins: [makeI18n('en')] } })
    expect(w.find('[data-test=img-ratio]').text()).toBe('0.25:1')
    expect(w.find('[data-test=img-row]').text()).toContain('I:Mg')
    expect(w.find('tr[data-class=blast] [data-test=review-only]').text()).toContain('review only')
    expect(w.find('tr[data-class=lymphocyte] [data-test=review-only]').exists()).toBe(false)
    expect(w.find('[data-test=neutrophils-combined]').text()).toContain('ICSH 2015')
    const zh = mount(DifferentialTable, { props: { differential: { ...differential, rows } }, global: { plugins: [makeI18n('zh')] } })
    expect(zh.find('tr[data-class=blast] [data-test=review-only]').text()).toContain('仅人工审核')
    expect(zh.find('[data-test=neutrophils-combined]').exists()).toBe(false)
  })
  it('shows Chinese class names and headings in Chinese', () => {
    const w = render('zh')
    expect(w.findAll('tbody tr')[1].text()).toContain('淋巴细胞')
    expect(w.find('thead').text()).toContain('参考范围')
    expect(w.findAll('tbody tr')[1].find('.flag').text()).toContain('偏高')
  })
})
