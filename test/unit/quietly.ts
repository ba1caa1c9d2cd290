/** Runs fn with both output streams kept, not printed: what a script would have shown the user. */
export async function quietly<T>(fn: () => Promise<T>): Promise<{ value: T; text: string }> {
  let text = '' // both streams: another test file may have sent the human output to stderr (--json -)
  const [o, e] = [process.stdout.write.bind(process.stdout), process.stderr.write.bind(process.stderr)]
  process.stdout.write = ((s: string) => ((text += s), true)) as typeof process.stdout.write
  process.stderr.write = ((s: string) => ((text += s), true)) as typeof process.stderr.write
  try {
    return { value: await fn(), text }
  } finally {
    process.stdout.write = o
    process.stderr.write = e
  }
}
