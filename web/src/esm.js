/*
 * The module build: import { init, setPage, setRoute, disable, flush } from '.../vigil.mjs'.
 * init({attribution: true}) loads vigil-attribution.mjs from beside this module; a bundled
 * app that does not serve it there passes its URL instead.
 */
import { init as start } from './vigil.js';

export { disable, flush, setPage, setRoute } from './vigil.js';

export function init(o) {
    try {
        start(o && o.attribution === true
            ? { ...o, attribution: new URL('vigil-attribution.mjs', import.meta.url).href } : o);
    } catch (e) { /* never into the host page */ }
}
