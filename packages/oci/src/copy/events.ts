/** Progress events the copy engine emits; the CLIs render them, the library never prints. */
export type CopyProgressEvent =
  | { type: 'start'; source: string; destination: string }
  | { type: 'blob-start'; digest: string; sizeBytes: number; kind: 'layer' | 'config' }
  | { type: 'blob-progress'; digest: string; bytes: number; sizeBytes: number }
  | {
      type: 'blob-done';
      digest: string;
      action: 'copied' | 'skipped' | 'mounted';
      sizeBytes: number;
      kind: 'layer' | 'config';
    }
  | { type: 'manifest'; digest: string; mediaType: string; instance: boolean }
  | { type: 'done'; digest: string };

export type ProgressListener = (event: CopyProgressEvent) => void;
