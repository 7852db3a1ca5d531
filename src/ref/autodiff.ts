// A tiny float64 reverse-mode autodiff (micrograd-style, on a flat tape) for the reference
// gradients of the score backward. Nodes are indices; each op records its parents and the
// local partial derivatives next to its value, so backward is one reverse sweep.
// Comparisons (masks, argmax, clamps) are decided on values and act as constants, as in torch.

export type Node = number;

export class Tape {
  readonly values: number[] = [];
  private readonly firstParent: number[] = [];
  private readonly parents: number[] = [];
  private readonly partials: number[] = [];

  private push(value: number, parents: readonly Node[], partials: readonly number[]): Node {
    this.values.push(value);
    this.firstParent.push(this.parents.length);
    for (let i = 0; i < parents.length; i++) {
      this.parents.push(parents[i]);
      this.partials.push(partials[i]);
    }
    return this.values.length - 1;
  }

  value(node: Node): number {
    return this.values[node];
  }

  /** An input or a constant: a node without parents. */
  leaf(value: number): Node {
    return this.push(value, [], []);
  }

  add(a: Node, b: Node): Node {
    return this.push(this.values[a] + this.values[b], [a, b], [1, 1]);
  }

  sub(a: Node, b: Node): Node {
    return this.push(this.values[a] - this.values[b], [a, b], [1, -1]);
  }

  mul(a: Node, b: Node): Node {
    return this.push(this.values[a] * this.values[b], [a, b], [this.values[b], this.values[a]]);
  }

  div(a: Node, b: Node): Node {
    const x = this.values[a];
    const y = this.values[b];
    return this.push(x / y, [a, b], [1 / y, -x / (y * y)]);
  }

  /** k * a + c for numbers k, c. */
  affine(a: Node, k: number, c = 0): Node {
    return this.push(k * this.values[a] + c, [a], [k]);
  }

  exp(a: Node): Node {
    const e = Math.exp(this.values[a]);
    return this.push(e, [a], [e]);
  }

  log(a: Node): Node {
    return this.push(Math.log(this.values[a]), [a], [1 / this.values[a]]);
  }

  sqrt(a: Node): Node {
    const root = Math.sqrt(this.values[a]);
    return this.push(root, [a], [root > 0 ? 0.5 / root : 0]);
  }

  leakyRelu(a: Node, slope = 0.1): Node {
    const x = this.values[a];
    return this.push(x > 0 ? x : slope * x, [a], [x > 0 ? 1 : slope]);
  }

  /** max(a, floor) with a number floor: the gradient passes only where a wins. */
  maxConst(a: Node, floor: number): Node {
    const x = this.values[a];
    return x > floor ? this.push(x, [a], [1]) : this.leaf(floor);
  }

  sum(nodes: readonly Node[]): Node {
    let total = 0;
    for (const n of nodes) total += this.values[n];
    return this.push(total, nodes, nodes.map(() => 1));
  }

  dot(a: readonly Node[], b: readonly Node[]): Node {
    let total = 0;
    const parents: Node[] = [];
    const partials: number[] = [];
    for (let i = 0; i < a.length; i++) {
      total += this.values[a[i]] * this.values[b[i]];
      parents.push(a[i], b[i]);
      partials.push(this.values[b[i]], this.values[a[i]]);
    }
    return this.push(total, parents, partials);
  }

  /** max over nodes; the gradient goes to the first maximum (torch's argmax on ties). */
  max(nodes: readonly Node[]): Node {
    let best = 0;
    for (let i = 1; i < nodes.length; i++) if (this.values[nodes[i]] > this.values[nodes[best]]) best = i;
    return this.push(this.values[nodes[best]], [nodes[best]], [1]);
  }

  /** softmax(scale * x), shifted by the (constant) maximum as torch does. */
  softmax(nodes: readonly Node[], scale: number): Node[] {
    let shift = -Infinity;
    for (const n of nodes) shift = Math.max(shift, scale * this.values[n]);
    const exps = nodes.map((n) => this.exp(this.affine(n, scale, -shift)));
    const total = this.sum(exps);
    return exps.map((e) => this.div(e, total));
  }

  /** sum_i weights[i] * rows[i] for rows of equal length: an explicit attended vector. */
  weightedRows(weights: readonly Node[], rows: readonly Node[][]): Node[] {
    const out: Node[] = [];
    for (let k = 0; k < rows[0].length; k++) {
      out.push(this.dot(weights, rows.map((row) => row[k])));
    }
    return out;
  }

  norm(v: readonly Node[]): Node {
    return this.sqrt(this.dot(v, v));
  }

  /** Gradients of sum_i seeds[i] * outputs[i] with respect to every node. */
  backward(outputs: readonly Node[], seeds: ArrayLike<number>): Float64Array {
    const grads = new Float64Array(this.values.length);
    outputs.forEach((node, i) => { grads[node] += seeds[i]; });
    for (let node = this.values.length - 1; node >= 0; node--) {
      const g = grads[node];
      if (g === 0) continue;
      const end = node + 1 < this.firstParent.length ? this.firstParent[node + 1] : this.parents.length;
      for (let p = this.firstParent[node]; p < end; p++) grads[this.parents[p]] += g * this.partials[p];
    }
    return grads;
  }
}
