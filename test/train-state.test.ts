/** The training state of last.safetensors, checked field by field (src/node/train/state.ts). */
import { describe, expect, it } from 'vitest';
import { DnfError } from '../src/errors.js';
import { parseTrainState } from '../src/node/train/state.js';
import { sampleState } from './train-state-sample.js';

describe('parseTrainState', () => {
  it('reads what dnf train saves (NaN losses arrive as null)', () => {
    const state = sampleState();
    state.history[0].trainLoss = NaN;
    const parsed = parseTrainState(JSON.stringify(state), 'last.safetensors');
    expect(parsed).toEqual({ ...state, history: [{ ...state.history[0], trainLoss: null }, state.history[1]] });
  });

  const edit = (f: (s: Record<string, any>) => void) => {
    const s = sampleState() as unknown as Record<string, any>;
    f(s);
    return JSON.stringify(s);
  };
  it.each([
    [edit((s) => (s.step = -1)), '"state.step" must be an integer from 0 to 9007199254740991, not -1'],
    [edit((s) => (s.batch = 1e12)), '"state.batch" is 1000000000000, more than the 4 batches of an epoch'],
    [edit((s) => (s.batch = 5)), '"state.batch" is 5, more than the 4 batches of an epoch'],
    [edit((s) => (s.logBytes = 'x')), '"state.logBytes" must be an integer from 0 to 9007199254740991, not "x"'],
    [edit((s) => (s.config.imageSize = 65536)), '"state.config.imageSize" must be an integer from 1 to 4096, not 65536'],
    [edit((s) => (s.config.betas = [0.9])), '"state.config.betas" must be a list of 2 entries, not [0.9]'],
    [edit((s) => (s.config.select = 'loss')), '"state.config.select" must be one of "acc", "ap", not "loss"'],
    [edit((s) => (s.history[1].valAcc = 7)), '"state.history[1].valAcc" must be a number from 0 to 1, not 7'],
    [edit((s) => (s.history = [...s.history, ...s.history])), '"state.history" has 4 epochs, more than the 2 done'],
    [edit((s) => (s.bad = [{}])), '"state.bad[0]" must be a string of up to 4096 characters, not {}'],
    [edit((s) => (s.extra = 1)), '"state.extra" is not a field of the training state'],
    [edit((s) => delete s.schedule.stopper), '"state.schedule.stopper" is missing'],
    [edit((s) => (s.config.train.real = 99)), '"state.config.train" real + fake is not images'],
  ])('names the damaged field (case %#)', (raw, message) => {
    const call = () => parseTrainState(raw, 'run/last.safetensors');
    expect(call).toThrow(DnfError);
    expect(call).toThrow(`run/last.safetensors: its training state (dnf.train_state) is damaged: ${message}; start a new run in another folder, or restore the file`);
  });

  it('refuses other versions and broken JSON', () => {
    expect(() => parseTrainState('{"version": 2}', 'l')).toThrow('l: training state of an unknown version; start a new run');
    expect(() => parseTrainState('[', 'l')).toThrow('l: its training state is not valid JSON');
    expect(() => parseTrainState('null', 'l')).toThrow('l: its training state (dnf.train_state) is damaged: "state" must be an object, not null');
  });
});
