// The layers of the DDPM "simple" UNet for a UnetConfig, walked as reference/dnf-pipeline.md
// section 2 builds them (the same walk as tools/golden/unet.py's Model): the state-dict layout
// (every key with its shape, for synthetic weights) and the multiply-adds of one forward.

/**
 * Every parametrised layer, in construction order: {kind: 'conv', name, cin, cout, k, out} (out:
 * output resolution), {kind: 'linear', name, cin, cout}, {kind: 'norm', name, c}, and parameter-free
 * {kind: 'attention', name, c, res} for the two batched matmuls of an AttnBlock.
 */
export function unetLayers(config) {
  const { ch, ch_mult: mult, num_res_blocks: nrb, attn_resolutions: attnAt, in_channels, out_ch, resolution } = config;
  const tembCh = 4 * ch;
  const layers = [];
  const conv = (name, cin, cout, k, out) => layers.push({ kind: 'conv', name, cin, cout, k, out });
  const norm = (name, c) => layers.push({ kind: 'norm', name, c });
  const resnet = (name, cin, cout, res) => {
    norm(`${name}.norm1`, cin);
    conv(`${name}.conv1`, cin, cout, 3, res);
    layers.push({ kind: 'linear', name: `${name}.temb_proj`, cin: tembCh, cout });
    norm(`${name}.norm2`, cout);
    conv(`${name}.conv2`, cout, cout, 3, res);
    if (cin !== cout) conv(`${name}.nin_shortcut`, cin, cout, 1, res);
  };
  const attn = (name, c, res) => {
    norm(`${name}.norm`, c);
    for (const p of ['q', 'k', 'v']) conv(`${name}.${p}`, c, c, 1, res);
    layers.push({ kind: 'attention', name, c, res });
    conv(`${name}.proj_out`, c, c, 1, res);
  };

  layers.push({ kind: 'linear', name: 'temb.dense.0', cin: ch, cout: tembCh });
  layers.push({ kind: 'linear', name: 'temb.dense.1', cin: tembCh, cout: tembCh });
  conv('conv_in', in_channels, ch, 3, resolution);
  const skips = [ch];
  let c = ch;
  for (let i = 0; i < mult.length; i++) {
    const res = resolution / 2 ** i;
    for (let j = 0; j < nrb; j++) {
      resnet(`down.${i}.block.${j}`, c, ch * mult[i], res);
      c = ch * mult[i];
      if (attnAt.includes(res)) attn(`down.${i}.attn.${j}`, c, res);
      skips.push(c);
    }
    if (i < mult.length - 1) {
      conv(`down.${i}.downsample.conv`, c, c, 3, res / 2); // pad right/bottom, stride 2
      skips.push(c);
    }
  }
  const bottom = resolution / 2 ** (mult.length - 1);
  resnet('mid.block_1', c, c, bottom);
  attn('mid.attn_1', c, bottom);
  resnet('mid.block_2', c, c, bottom);
  for (let i = mult.length - 1; i >= 0; i--) {
    const res = resolution / 2 ** i;
    for (let j = 0; j <= nrb; j++) {
      resnet(`up.${i}.block.${j}`, c + skips.pop(), ch * mult[i], res);
      c = ch * mult[i];
      if (attnAt.includes(res)) attn(`up.${i}.attn.${j}`, c, res);
    }
    if (i > 0) conv(`up.${i}.upsample.conv`, c, c, 3, res * 2); // after the nearest x2
  }
  norm('norm_out', c);
  conv('conv_out', c, out_ch, 3, resolution);
  return layers;
}

/** The state dict's [key, shape] pairs (PyTorch's names; the VarBuilder checks them on load). */
export function stateDictLayout(layers) {
  const out = [];
  for (const l of layers) {
    if (l.kind === 'conv') out.push([`${l.name}.weight`, [l.cout, l.cin, l.k, l.k]], [`${l.name}.bias`, [l.cout]]);
    if (l.kind === 'linear') out.push([`${l.name}.weight`, [l.cout, l.cin]], [`${l.name}.bias`, [l.cout]]);
    if (l.kind === 'norm') out.push([`${l.name}.weight`, [l.c]], [`${l.name}.bias`, [l.c]]);
  }
  return out;
}

/**
 * Multiply-adds of one image's forward: convolutions (cout * cin * k^2 per output pixel), linear
 * layers, and attention's q^T k and v w^T (2 * L^2 * C, L = res^2). Biases, GroupNorm, swish,
 * softmax, residual adds and copies are not counted (under 0.1% of the total). The
 * lsun-bedroom-256 preset gives 248.5 G multiply-adds, i.e. 497 GFLOP.
 */
export function multiplyAdds(layers) {
  let macs = 0;
  for (const l of layers) {
    if (l.kind === 'conv') macs += l.cout * l.cin * l.k * l.k * l.out * l.out;
    if (l.kind === 'linear') macs += l.cout * l.cin;
    if (l.kind === 'attention') macs += 2 * l.res ** 4 * l.c;
  }
  return macs;
}
