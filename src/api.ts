/**
 * The server extension's REST API (gemini_magics/serverext; docs/jupyterlab.md), called through
 * ServerConnection so that the server's token and XSRF rules apply as for JupyterLab's own requests.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** One background run (research, map job, batch) of any notebook on the server. */
export interface IRun {
  /** Research: the interaction id; map and batch jobs: their key. */
  id: string;
  kind: string;
  status: string;
  agent: string | null;
  model: string | null;
  /** The chain store's notebook key, e.g. `notebook:/abs/path/x.ipynb`. */
  notebook: string | null;
  /** The notebook's path relative to the server's root (null: unknown, or outside the root). */
  path: string | null;
  chain: string | null;
  /** One line: the start of the research prompt, or the map/batch label. */
  title: string | null;
  started: number | null;
  finished: number | null;
  elapsed: number | null;
  thought: string | null;
  has_report: boolean;
  followed_by: string | null;
  error: string | null;
}

export interface IRunsReply {
  runs: IRun[];
  now: number;
}

export interface IReport {
  id: string;
  status: string;
  markdown: string;
}

export interface ICancelReply {
  id: string;
  status: string;
}

/** The conversation of a notebook as the chain store has it, for the status bar. */
export interface INotebookStatus {
  chain: string | null;
  model: string | null;
  turns: number;
  tokens: number;
  cost_usd: number | null;
  backend: string | null;
}

/** A failed request, said in one line (the server's `message` when it sent one). */
export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

const NAMESPACE = 'gemini-magics/api';

/** Call `<base>/gemini-magics/api/<endPoint>` and return its JSON body. */
export async function requestAPI<T>(
  endPoint: string,
  settings: ServerConnection.ISettings,
  init: RequestInit = {}
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, NAMESPACE, endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new APIError('the Jupyter server cannot be reached', 0);
  }
  const text = await response.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new APIError(
      oneLine(describe(response.status, data)),
      response.status
    );
  }
  if (data === null) {
    throw new APIError(`${endPoint}: the server sent no JSON`, response.status);
  }
  return data as T;
}

function describe(status: number, data: any): string {
  if (data && typeof data.message === 'string' && data.message) {
    return data.message;
  }
  if (status === 404) {
    return 'the gemini-magics server extension is not enabled on this Jupyter server';
  }
  if (status === 403) {
    return 'the Jupyter server refused the request (403)';
  }
  return `the Jupyter server answered ${status}`;
}

/** First line, at most 200 characters: errors are said in one line. */
export function oneLine(text: string): string {
  const line = text.split('\n', 1)[0].trim();
  return line.length > 200 ? line.slice(0, 199) + '…' : line;
}

/** URL path segment of a run id (ids are the service's, but never trust them into a URL). */
export function runPath(id: string, tail = ''): string {
  return `runs/${encodeURIComponent(id)}${tail ? '/' + tail : ''}`;
}
