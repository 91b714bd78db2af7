/**
 * The weights the user chose for a model: a File picked from disk or a URL. The engine
 * (web/engine.ts) reads either through the library's pipeline (src/pipeline/sources.ts): a File
 * slice by slice as the model asks for each tensor, a URL in HTTP ranges (or downloaded once when
 * its server serves no ranges), with progress; a Cancel stops a download at its next chunk.
 */

/** Bytes done out of total (total 0: unknown). */
export type OnProgress = (done: number, total: number) => void;

export type WeightsChoice = { kind: 'file'; file: File } | { kind: 'url'; url: string };

/** A key that changes when the user picks other weights. */
export function choiceKey(choice: WeightsChoice): string {
  return choice.kind === 'file' ? `file:${choice.file.name}:${choice.file.size}:${choice.file.lastModified}` : `url:${choice.url}`;
}
