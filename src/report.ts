/**
 * A run's report in the main area. The report is the model's Markdown: untrusted, so it goes through
 * JupyterLab's Markdown renderer with `trusted: false`, i.e. through the rendermime sanitiser (no
 * scripts, no event handlers, no forms), exactly as an untrusted notebook's Markdown output would.
 */

import { MainAreaWidget, ToolbarButton } from '@jupyterlab/apputils';
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';
import { ServerConnection } from '@jupyterlab/services';
import { refreshIcon } from '@jupyterlab/ui-components';
import { Panel, Widget } from '@lumino/widgets';

import { APIError, IReport, IRun, requestAPI, runPath } from './api';
import { geminiIcon } from './icon';
import { notebookName } from './sidebar';
import { icon, words } from './statuses';

/** The content of a report tab: a one-line header (text) and the rendered Markdown. */
export class ReportView extends Panel {
  constructor(
    readonly run: IRun,
    private _settings: ServerConnection.ISettings,
    private _rendermime: IRenderMimeRegistry
  ) {
    super();
    this.addClass('jp-GeminiReport');
    this._header = new Widget({ node: document.createElement('div') });
    this._header.addClass('jp-GeminiReport-header');
    this.addWidget(this._header);
  }

  /** Fetch the report and render it (again: a refresh replaces the rendered Markdown). */
  async load(): Promise<void> {
    let report: IReport;
    try {
      report = await requestAPI<IReport>(
        runPath(this.run.id, 'report'),
        this._settings
      );
    } catch (error) {
      const why =
        error instanceof APIError
          ? error.message
          : 'the report could not be read';
      this._say(`No report: ${why}`, true);
      return;
    }
    this._say(
      `${icon(report.status)} ${words(report.status)} · ${this.run.kind} · ` +
        `${notebookName(this.run)} · ${report.id}`,
      false
    );
    const renderer = this._rendermime.createRenderer('text/markdown');
    renderer.addClass('jp-GeminiReport-body');
    const model = new MimeModel({
      data: { 'text/markdown': report.markdown ?? '' },
      trusted: false
    });
    await renderer.renderModel(model);
    this._body?.dispose();
    this._body = renderer;
    this.addWidget(renderer);
  }

  private _say(text: string, isError: boolean): void {
    this._header.node.textContent = text;
    this._header.toggleClass('jp-mod-error', isError);
    if (isError) {
      this._body?.dispose();
      this._body = null;
    }
  }

  private _header: Widget;
  private _body: Widget | null = null;
}

/** Open tabs by run id: showing a report twice activates the tab already open. */
const open = new Map<string, MainAreaWidget<ReportView>>();

export function reportWidget(
  run: IRun,
  settings: ServerConnection.ISettings,
  rendermime: IRenderMimeRegistry
): { widget: MainAreaWidget<ReportView>; isNew: boolean } {
  const existing = open.get(run.id);
  if (existing && !existing.isDisposed) {
    void existing.content.load();
    return { widget: existing, isNew: false };
  }
  const content = new ReportView(run, settings, rendermime);
  const widget = new MainAreaWidget({ content });
  widget.id = `gemini-magics-report-${Date.now()}-${open.size}`;
  widget.addClass('jp-GeminiReport-panel');
  widget.title.label = `Report · ${notebookName(run)}`;
  widget.title.caption = `Gemini ${run.kind} run ${run.id} of ${run.path || run.notebook || 'an unknown notebook'}`;
  widget.title.icon = geminiIcon;
  widget.title.closable = true;
  widget.toolbar.addItem(
    'refresh',
    new ToolbarButton({
      icon: refreshIcon,
      tooltip: 'Read the report again',
      onClick: () => void content.load()
    })
  );
  open.set(run.id, widget);
  widget.disposed.connect(() => open.delete(run.id));
  void content.load();
  return { widget, isNew: true };
}
