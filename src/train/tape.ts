/**
 * Reverse-mode differentiation for training steps, in two small pieces.
 *
 * An activation is a `Batch`: one tensor per chunk of the batch. A batch of 64 images of 256x256
 * does not fit one storage binding in most layers (128 MiB on browsers and the GL adapter), so
 * every layer runs chunk by chunk; BatchNorm reduces over all chunks, so its statistics are the
 * whole batch's, exactly as an unsplit step.
 *
 * The `Tape`: during the forward pass each layer records a closure that, given the gradient of its
 * output, adds the gradients of its inputs (`tape.addGrad`) and of its parameters (into the
 * arena). `backward()` runs the closures in reverse order, so every consumer of an activation has
 * contributed its share before the activation's producer reads the sum: a residual connection is
 * just two contributions to the same input.
 *
 * The `Scope` (tf.tidy's idea): every tensor a step creates for its forward pass is kept in the
 * scope and released in one call when the step is over; gradients are released as soon as their
 * closure has consumed them.
 */
import { add } from '../kernels/elementwise.js';
import { Tensor } from '../tensor.js';

/** One tensor per chunk of the batch (equal shapes but the first axis). */
export type Batch = Tensor[];

export class Scope {
  private readonly kept: Tensor[] = [];

  /** Keeps `t` until dispose(); returns it. */
  keep<T extends Tensor | Batch>(t: T): T {
    if (Array.isArray(t)) this.kept.push(...t);
    else this.kept.push(t);
    return t;
  }

  dispose(): void {
    for (const t of this.kept.splice(0)) t.dispose();
  }
}

export class Tape {
  private readonly steps: Array<() => void> = [];
  private readonly grads = new Map<Batch, Batch>();

  /** Records the backward closure of an op (run in reverse order by backward()). */
  record(backward: () => void): void {
    this.steps.push(backward);
  }

  /** Adds `g` to the gradient of `x` (taking ownership of g's tensors). */
  addGrad(x: Batch, g: Batch): void {
    const have = this.grads.get(x);
    if (!have) {
      this.grads.set(x, g);
      return;
    }
    this.grads.set(x, have.map((h, i) => {
      const sum = add(h, g[i]);
      h.dispose();
      g[i].dispose();
      return sum;
    }));
  }

  /** The gradient of `x`, removed from the tape: the caller disposes it. Throws when nothing reached x. */
  takeGrad(x: Batch): Batch {
    const g = this.grads.get(x);
    if (!g) throw new Error('backward: an activation received no gradient (is it used by the loss?)');
    this.grads.delete(x);
    return g;
  }

  /** Runs every recorded closure, last first, from d loss / d out = g. The tape is empty afterwards. */
  backward(out: Batch, g: Batch): void {
    this.addGrad(out, g);
    for (let i = this.steps.length - 1; i >= 0; i--) this.steps[i]();
    this.steps.length = 0;
    for (const left of this.grads.values()) left.forEach((t) => t.dispose());
    this.grads.clear();
  }
}

/** Disposes every tensor of a batch. */
export function disposeBatch(b: Batch): void {
  for (const t of b) t.dispose();
}
