/**
 * A notification when a run ends while its notebook is not the tab in front (or is closed): the user
 * hears of it without opening anything, and the notification's action opens the report.
 */

import { Notification } from '@jupyterlab/apputils';

import { IRun } from './api';
import { RunsModel } from './runs';
import { notebookName } from './sidebar';
import { clock, isSuccess, notificationType, words } from './statuses';

export interface INotifyOptions {
  /** The server-relative path of the document in front, if any. */
  currentPath(): string | null;
  openNotebook(run: IRun): void;
  showReport(run: IRun): void;
}

/** The notification's text (one line; JupyterLab cuts messages at 140 characters). */
export function endMessage(run: IRun): string {
  const what = run.kind === 'research' ? 'Research' : `${run.kind} job`;
  const after = run.elapsed !== null ? ` after ${clock(run.elapsed)}` : '';
  let name = notebookName(run);
  if (name.length > 60) {
    name = name.slice(0, 59) + '…';
  }
  return `${what} in ${name}: ${words(run.status)}${after}`;
}

/** Notify of every run that ends, unless its notebook is in front. */
export function notifyEnds(model: RunsModel, options: INotifyOptions): void {
  model.ended.connect((_, runs) => {
    const current = options.currentPath();
    for (const run of runs) {
      if (run.path && run.path === current) {
        continue; // the user is looking at it: the notebook's own widget says so
      }
      const actions: Notification.IAction[] = [];
      if (run.has_report) {
        actions.push({
          label: 'Show report',
          caption: 'Open the report of this run',
          displayType: 'accent',
          callback: () => options.showReport(run)
        });
      }
      if (run.path) {
        actions.push({
          label: 'Open notebook',
          caption: `Open ${run.path}`,
          callback: () => options.openNotebook(run)
        });
      }
      Notification.emit(endMessage(run), notificationType(run.status), {
        autoClose: isSuccess(run.status) ? 15_000 : false,
        actions
      });
    }
  });
}
