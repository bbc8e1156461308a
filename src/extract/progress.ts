/** Progress events the library emits; the CLI turns them into a bar or log lines. */
export interface ProgressEvent {
  phase: "load" | "extract" | "finalize" | "done";
  /** Rows finished (embedded or failed), resumed ones included. */
  done: number;
  total: number;
  failed: number;
  /** Rows taken over from an interrupted run. */
  resumed: number;
  message?: string;
}

export type ProgressListener = (event: ProgressEvent) => void;
