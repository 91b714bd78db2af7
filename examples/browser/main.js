// createDetector in a browser: weights from a File or a URL (read in HTTP ranges), images as Files.
// Bundle with Vite (`npx vite examples/browser`) or esbuild; it imports only the package.
import { createDetector } from 'dnf-webgpu';

const $ = (id) => document.getElementById(id);
const out = $('out');

$('run').addEventListener('click', async () => {
  const unet = $('unet').files[0] ?? $('unet-url').value.trim();
  const classifier = $('classifier').files[0];
  const images = [...$('images').files];
  if (!unet || !classifier || images.length === 0) {
    out.textContent = 'Pick the UNet weights (or give their URL), a classifier and at least one image.';
    return;
  }
  out.textContent = '';
  let detector;
  try {
    detector = await createDetector({
      unet,
      classifier,
      onProgress: ({ model, stage, done, total }) => (out.textContent = `${stage === 'download' ? 'Downloading' : 'Reading'} the ${model}: ${(done / 1e6).toFixed(1)} of ${(total / 1e6).toFixed(1)} MB`),
    });
    out.textContent = `Running on ${detector.describe()}\n`;
    const results = await detector.detect(images);
    results.forEach((r, i) => (out.textContent += `${images[i].name}: ${r.label} (P(generated) = ${r.prob.toFixed(4)})\n`));
  } catch (e) {
    out.textContent = e.message;
  } finally {
    await detector?.dispose();
  }
});
