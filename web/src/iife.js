/*
 * The <script> build: starts from the tag's data- attributes and exposes window.Vigil.
 *
 *   <script src="https://rum.example.com/vigil.js" async data-app="shop"
 *           data-version="1.2.3" data-endpoint="https://rum.example.com/v1/rum"></script>
 *
 * Options set in window.VigilConfig before the tag (beforeSend, ...) are merged in. With
 * data-disabled the script only loads, and Vigil.init() starts it later (after consent).
 */
import { disable, flush, init, setPage } from './vigil.js';

try {
    if (!window.Vigil) {
        const s = document.currentScript;
        const d = (s && s.dataset) || {};
        const flag = (k) => k in d && d[k] != 'false';
        // vigil-attribution.mjs and the collector are found beside this file by default.
        const near = (path) => s && s.src && new URL(path, s.src).href;
        const base = {
            app: d.app,
            version: d.version,
            endpoint: d.endpoint || near('/v1/rum'),
            sample: d.sample || 1,
            attribution: flag('attribution') && near('vigil-attribution.mjs'),
            disabled: flag('disabled'),
            ...window.VigilConfig,
        };
        window.Vigil = {
            init: (o) => init({ ...base, disabled: 0, ...o }),
            setPage,
            setRoute: setPage,
            disable,
            flush,
        };
        if (base.app)
            init(base);
    }
} catch (e) { /* never into the host page */ }
