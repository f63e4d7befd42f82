// Topological order of a DAG; a cycle is reported with the nodes in it, in order.

export function topoOrder(names: string[], needsOf: (name: string) => string[], onCycle: (cycle: string[]) => never): string[] {
  const state = new Map<string, 'visiting' | 'done'>();
  const order: string[] = [];
  const stack: string[] = [];
  const visit = (name: string): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') {
      const start = stack.indexOf(name);
      onCycle([...stack.slice(start), name]);
    }
    state.set(name, 'visiting');
    stack.push(name);
    for (const need of needsOf(name)) visit(need);
    stack.pop();
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of names) visit(name);
  return order;
}

/** All nodes downstream of `from` (inclusive), given each node's needs. */
export function descendants(order: string[], needsOf: (name: string) => string[], from: Iterable<string>): Set<string> {
  const out = new Set(from);
  for (const name of order) if (needsOf(name).some((n) => out.has(n))) out.add(name);
  return out;
}
