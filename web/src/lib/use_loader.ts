// A page's "load this" step: a loading flag for the spinner and the error to show beside it.
import { ref } from 'vue'

/**
 * @param {(...args: any[]) => Promise<void>} fn fetches and stores what the page shows
 * @returns {{loading: import('vue').Ref<boolean>, error: import('vue').Ref<any>, run: (...args: any[]) => Promise<void>}}
 */
export function useLoader(fn) {
  const loading = ref(false)
  const error = ref(null)
  async function run(...args) {
    loading.value = true
    try {
      await fn(...args)
      error.value = null
    } catch (e) {
      error.value = e
    } finally {
      loading.value = false
    }
  }
  return { loading, error, run }
}
