// @vitest-environment node
// The API document the app's types come from: valid OpenAPI (swagger-parser, which also resolves
// every $ref), and the generated types are those of the document as it is now.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import SwaggerParser from '@apidevtools/swagger-parser'
import { documentPath, generateApiTypes, typesPath } from '../scripts/api-types.mjs'

describe('the API document', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const doc = JSON.parse(readFileSync(documentPath, 'utf8'))
    const api = await SwaggerParser.validate(doc)
    expect((api as { openapi?: string }).openapi).toBe('3.1.0')
    expect(Object.keys(api.paths ?? {}).length).toBeGreaterThan(40)
  })
  it('declares the session cookie and the CSRF header', () => {
    const doc = JSON.parse(readFileSync(documentPath, 'utf8'))
    expect(doc.components.securitySchemes.session).toMatchObject({ type: 'apiKey', in: 'cookie', name: 'ms_session' })
    expect(doc.components.securitySchemes.csrf).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-CSRF-Token' })
    expect(doc.paths['/api/cells/review'].post.security).toEqual([{ session: [], csrf: [] }])
  })
  it('is what src/api/schema.d.ts was generated from', async () => {
    const current = readFileSync(typesPath, 'utf8')
    expect(current === (await generateApiTypes()), 'src/api/schema.d.ts is stale: run npm run api-types').toBe(true)
  }, 30000)
})
