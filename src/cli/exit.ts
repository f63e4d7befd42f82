// The exit code a command's action asks for (commander's actions return nothing): 0 unless set.

let code = 0;

export function setExitCode(c: number): void {
  code = Math.max(code, c);
}

export function takeExitCode(): number {
  const c = code;
  code = 0;
  return c;
}
