// Bundled by tests/install.sh (esbuild) into dist/sentry.bundle.js, which
// exposes the npm @sentry/browser as window.Sentry for a plain <script> tag.
import * as Sentry from "@sentry/browser";

window.Sentry = Sentry;
