// Lint an email's HTML against the Can I email data (@jsx-email/doiuse-email, installed by
// .ci/test into target/npm): prints one JSON object mapping each client glob to the distinct
// features it does not support.
const { doIUseEmail } = require('@jsx-email/doiuse-email');
const html = require('fs').readFileSync(process.argv[2], 'utf8');
const out = {};
for (const clients of process.argv.slice(3)) {
    const r = doIUseEmail(html, { emailClients: [clients] });
    // `errors` is what the 1.0.4 release reports (see ../shared/email-compat.md).
    const features = (r.errors || []).map((e) => e.replace(/ is not supported by `.*`$/, ''));
    out[clients] = [...new Set(features)].sort();
}
console.log(JSON.stringify(out));
