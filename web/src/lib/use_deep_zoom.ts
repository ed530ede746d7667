// One OpenSeadragon viewer over an image's deep-zoom pyramid (GET /api/images/{id}/dzi; the
// browser fetches only the tiles it shows, so a whole slide and a TIFF field display alike), and
// the conversion from image pixels to the viewer element's pixels that overlays drawn in image
// pixels follow.
//
// All positions are level-0 image pixels, the unit of the API. The viewer allows no rotation or
// flip (its 'r' and 'f' keys are turned off), so the conversion is x_screen = ox + k * x,
// y_screen = oy + k * y: two converted points give ox, oy and k on every viewport change.
import OpenSeadragon from 'openseadragon'
import { onBeforeUnmount, onMounted, ref, shallowRef, type Ref } from 'vue'
import type { Region } from '@/lib/slide_areas'

export interface DeepZoomImage {
  id: number
  width: number // level-0 pixels
  height: number
}

/** Image pixel -> viewer element pixel: x_screen = ox + k * x, y_screen = oy + k * y. */
export interface ScreenTransform {
  ox: number
  oy: number
  k: number // screen pixels per image pixel; 0 while unknown
}

/** A point of the page in image pixels (x, y) and in the viewer element's pixels (sx, sy). */
export interface ImagePoint {
  x: number
  y: number
  sx: number
  sy: number
}

export interface DeepZoomSetup {
  /** The element the viewer fills; its top-left corner is viewer element pixel (0, 0). */
  element: Ref<HTMLElement | null>
  image: () => DeepZoomImage
  /** OpenSeadragon options besides the element and the tile source. */
  options?: OpenSeadragon.Options
  /** Called with each new viewer, before it opens: the place to add its event handlers. */
  onCreate?: (viewer: OpenSeadragon.Viewer) => void
  /** Called once the image is open and the first conversion is read. */
  onOpen?: () => void
  /** Called after every new conversion (pan, zoom, resize). */
  onViewport?: () => void
}

// Key codes OpenSeadragon rotates (r) and flips (f) the view on; the overlays do not follow either.
const ROTATE_KEY = 82
const FLIP_KEY = 70

/**
 * The image fitted and centred in the element, as OpenSeadragon's home view shows it: the
 * conversion to draw with before the viewer has opened the image. k is 0 while the element has no
 * size.
 */
export function fittedTransform(width: number, height: number, image: DeepZoomImage): ScreenTransform {
  const k = image.width > 0 && image.height > 0 ? Math.min(width / image.width, height / image.height) : 0
  if (!(k > 0)) return { ox: 0, oy: 0, k: 0 }
  return { ox: (width - image.width * k) / 2, oy: (height - image.height * k) / 2, k }
}

export function useDeepZoom(setup: DeepZoomSetup) {
  const viewer = shallowRef<OpenSeadragon.Viewer | null>(null)
  // OpenSeadragon's canvas element: overlays teleported into it get every press, drag and wheel
  // to the viewer as well.
  const overlayHost = shallowRef<HTMLElement | null>(null)
  const opened = ref(false)
  const openError = ref('')
  const view = ref<ScreenTransform>({ ox: 0, oy: 0, k: 0 })

  /** Shows the current image in a new viewer (the old one, if any, is destroyed). */
  function open() {
    close()
    const element = setup.element.value
    if (!element) return
    const image = setup.image()
    view.value = fittedTransform(element.clientWidth, element.clientHeight, image)
    const v = OpenSeadragon({
      showNavigationControl: false, // the components' toolbars have the controls, translated
      // The 2D canvas drawer: tiles need no more, and OpenSeadragon's default first probes WebGL,
      // which without GPU acceleration (software rendering: virtual machines, thin clients, headless
      // browsers) took 0.67 s before the first tile was even asked for.
      drawer: 'canvas',
      ...setup.options,
      element,
      tileSources: `/api/images/${image.id}/dzi`,
    })
    viewer.value = v
    overlayHost.value = v.canvas
    v.addHandler('open', () => {
      opened.value = true
      sync()
      setup.onOpen?.()
    })
    v.addHandler('open-failed', (e) => {
      opened.value = false
      openError.value = e.message || String(e.source ?? '')
    })
    for (const name of ['animation', 'update-viewport', 'resize'] as const) v.addHandler(name, sync)
    v.addHandler('canvas-key', (e) => {
      const code = e.originalEvent.keyCode
      if (code === ROTATE_KEY || code === FLIP_KEY) e.preventDefaultAction = true
    })
    setup.onCreate?.(v)
  }

  function close() {
    if (viewer.value) viewer.value.destroy()
    viewer.value = null
    overlayHost.value = null
    opened.value = false
    openError.value = ''
  }

  /** Reads the viewport's current image -> screen conversion (called on every viewport change). */
  function sync() {
    const vp = viewer.value?.viewport
    const image = setup.image()
    if (!vp || !opened.value || !image.width) return
    const a = vp.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0))
    const b = vp.imageToViewerElementCoordinates(new OpenSeadragon.Point(image.width, image.height))
    const k = (b.x - a.x) / image.width
    if (!(k > 0) || !Number.isFinite(a.x) || !Number.isFinite(a.y)) return
    view.value = { ox: a.x, oy: a.y, k }
    setup.onViewport?.()
  }

  /** The pointer of a mouse or pointer event in image pixels; null before the image is open. */
  function pointerAt(ev: { clientX: number; clientY: number }): ImagePoint | null {
    const v = viewer.value
    const element = setup.element.value
    if (!v || !element || !opened.value) return null
    const r = element.getBoundingClientRect()
    const sx = ev.clientX - r.left
    const sy = ev.clientY - r.top
    const p = v.viewport.viewerElementToImageCoordinates(new OpenSeadragon.Point(sx, sy))
    return { x: p.x, y: p.y, sx, sy }
  }

  /** Zooms by a factor around a viewer element point (the centre when none is given). */
  function zoomBy(factor: number, at?: { sx: number; sy: number }) {
    const v = viewer.value
    if (!v) return
    if (at) v.viewport.zoomBy(factor, v.viewport.viewerElementToViewportCoordinates(new OpenSeadragon.Point(at.sx, at.sy)))
    else v.viewport.zoomBy(factor)
    v.viewport.applyConstraints()
  }

  /** Back to the whole image, fitted. */
  function home() {
    viewer.value?.viewport.goHome()
  }

  /** Shows an image rectangle (pixels) with a margin around it, a fraction of its sides. */
  function flyTo(r: Region, margin = 0.25) {
    const v = viewer.value
    if (!v || !opened.value) return
    const mx = r.w * margin
    const my = r.h * margin
    v.viewport.fitBounds(v.viewport.imageToViewportRectangle(r.x - mx, r.y - my, r.w + 2 * mx, r.h + 2 * my))
  }

  onMounted(open)
  onBeforeUnmount(close)

  return { viewer, overlayHost, opened, openError, view, open, close, pointerAt, zoomBy, home, flyTo }
}
