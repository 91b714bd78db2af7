/**
 * The training state of last.safetensors (metadata `dnf.train_state`, JSON; see checkpoint.ts),
 * checked field by field before a resumed run uses any of it: types, ranges, no unknown fields,
 * and consistency (the batch within its epoch, the epochs within the history). A damaged or
 * hand-edited state is one line naming the file and the field, not a crash or a loop sized by it.
 */
import { MAX_CLASSIFIER_SIZE } from '../../classifier-metadata.js';
import { DnfError } from '../../errors.js';
import type { TrainState } from './checkpoint.js';

/** A check of one value; throws Bad with what is wrong. */
type Check = (v: unknown, at: string) => void;

class Bad extends Error {
  constructor(readonly at: string, what: string) {
    super(what);
  }
}

/**
 * Bounds far above any real run (the state is written by `dnf train`; these only keep a
 * hand-edited file from sizing work): counts up to 2^53 (exact in JSON numbers), lists and
 * strings up to what the 100 MiB safetensors header could hold anyway, per item far less.
 */
const MAX_COUNT = Number.MAX_SAFE_INTEGER;
const MAX_STRING = 4096;
const MAX_LIST = 10_000_000;
const MAX_BATCH = 2 ** 20;

const show = (v: unknown) => {
  const s = (() => { try { return JSON.stringify(v) ?? String(v); } catch { return String(v); } })();
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
};

const int = (min: number, max = MAX_COUNT): Check => (v, at) => {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)) throw new Bad(at, `must be an integer from ${min} to ${max}, not ${show(v)}`);
};
/** A finite number in [min, max] (JSON has no NaN or infinities: they arrive as null). */
const num = (min = -Number.MAX_VALUE, max = Number.MAX_VALUE): Check => (v, at) => {
  if (!(typeof v === 'number' && v >= min && v <= max)) throw new Bad(at, `must be a number from ${min} to ${max}, not ${show(v)}`);
};
const bool: Check = (v, at) => {
  if (typeof v !== 'boolean') throw new Bad(at, `must be true or false, not ${show(v)}`);
};
const str: Check = (v, at) => {
  if (typeof v !== 'string' || v.length > MAX_STRING) throw new Bad(at, `must be a string of up to ${MAX_STRING} characters, not ${show(v)}`);
};
const oneOf = (...values: unknown[]): Check => (v, at) => {
  if (!values.includes(v)) throw new Bad(at, `must be one of ${values.map(show).join(', ')}, not ${show(v)}`);
};
const nullable = (c: Check): Check => (v, at) => (v === null ? undefined : c(v, at));
const list = (item: Check, min = 0, max = MAX_LIST): Check => (v, at) => {
  if (!Array.isArray(v) || v.length < min || v.length > max) throw new Bad(at, `must be a list of ${min === max ? min : `up to ${max}`} entries, not ${show(v)}`);
  v.forEach((e, i) => item(e, `${at}[${i}]`));
};
const obj = (fields: Record<string, Check>): Check => (v, at) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Bad(at, `must be an object, not ${show(v)}`);
  const unknown = Object.keys(v).find((k) => !Object.prototype.hasOwnProperty.call(fields, k));
  if (unknown !== undefined) throw new Bad(`${at}.${unknown.length > 30 ? `${unknown.slice(0, 30)}...` : unknown}`, 'is not a field of the training state');
  for (const [k, c] of Object.entries(fields)) {
    if (!Object.prototype.hasOwnProperty.call(v, k)) throw new Bad(`${at}.${k}`, 'is missing');
    c((v as Record<string, unknown>)[k], `${at}.${k}`);
  }
};

const dataSet = obj({ root: str, images: int(0), real: int(0), fake: int(0), fingerprint: str });
const score = nullable(num(0, 1));
const TRAIN_STATE = obj({
  version: oneOf(1),
  config: obj({
    arch: str, imageSize: int(1, MAX_CLASSIFIER_SIZE), antialias: bool, batchSize: int(1, MAX_BATCH), lr: num(Number.MIN_VALUE),
    betas: list(num(0, 1), 2, 2), eps: num(0, 1), seed: int(-MAX_COUNT), flip: bool, shuffle: bool, select: oneOf('acc', 'ap'),
    patience: int(0), minLr: num(0), init: nullable(str), train: dataSet, val: dataSet,
  }),
  step: int(0),
  epoch: int(0),
  batch: int(0),
  schedule: obj({ lr: num(0), stopper: obj({ best: nullable(num()), counter: int(0), delta: num(0) }), drops: int(0) }),
  epochLoss: obj({ sum: num(), count: int(0) }),
  history: list(obj({ epoch: int(1), step: int(0), lr: num(0), trainLoss: nullable(num()), valAcc: score, valAp: score, realAcc: score, fakeAcc: score })),
  best: nullable(obj({ acc: score, ap: score, realAcc: score, fakeAcc: score, images: int(0), score: num(), epoch: int(0), step: int(0) })),
  bad: list(str),
  logBytes: int(0),
  finished: nullable(str),
});

/** The training state in `raw` (the metadata entry of `path`), checked; a DnfError naming the field otherwise. */
export function parseTrainState(raw: string, path: string): TrainState {
  const damaged = (at: string, what: string) =>
    new DnfError(`${path}: its training state (dnf.train_state) is damaged: "${at}" ${what}; start a new run in another folder, or restore the file`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new DnfError(`${path}: its training state is not valid JSON; the file is damaged: start a new run or restore it`);
  }
  if (typeof json === 'object' && json !== null && (json as { version?: unknown }).version !== 1) {
    throw new DnfError(`${path}: training state of an unknown version; start a new run`);
  }
  try {
    TRAIN_STATE(json, 'state');
  } catch (e) {
    if (e instanceof Bad) throw damaged(e.at, e.message);
    throw e;
  }
  const state = json as TrainState;
  const { config } = state;
  const batches = Math.ceil(config.train.images / config.batchSize);
  if (state.batch > batches) throw damaged('state.batch', `is ${state.batch}, more than the ${batches} batches of an epoch`);
  if (state.history.length > state.epoch) throw damaged('state.history', `has ${state.history.length} epochs, more than the ${state.epoch} done`);
  if (config.train.real + config.train.fake !== config.train.images) throw damaged('state.config.train', 'real + fake is not images');
  if (config.val.real + config.val.fake !== config.val.images) throw damaged('state.config.val', 'real + fake is not images');
  return state;
}
