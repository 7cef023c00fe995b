/**
 * gemini-magics in JupyterLab 4: highlighted `%%gemini` cells, and — through the server extension's REST
 * API — a sidebar of every background run on the server, notifications when runs end, and a status bar
 * item for the notebook in front. The magics work without any of it (classic front ends, VS Code).
 */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import {
  EditorExtensionRegistry,
  IEditorExtensionRegistry
} from '@jupyterlab/codemirror';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IStatusBar } from '@jupyterlab/statusbar';

import { APIError, ICancelReply, IRun, requestAPI, runPath } from './api';
import { geminiCells } from './highlight';
import { geminiIcon } from './icon';
import { notifyEnds } from './notify';
import { reportWidget } from './report';
import { RunsModel } from './runs';
import { RunsPanel } from './sidebar';
import { GeminiStatus } from './statusbar';

const SIDEBAR_ID = 'gemini-magics:runs';

const highlighting: JupyterFrontEndPlugin<void> = {
  id: 'gemini-magics:highlight',
  description:
    'Highlights %%gemini cells: the magic line and its flags, the prompt as Markdown.',
  autoStart: true,
  requires: [IEditorExtensionRegistry],
  activate: (_app: JupyterFrontEnd, registry: IEditorExtensionRegistry) => {
    registry.addExtension({
      name: 'gemini-magics:cells',
      factory: ({ model }) =>
        EditorExtensionRegistry.createImmutableExtension(
          geminiCells(model.sharedModel.getSource())
        )
    });
  }
};

const runs: JupyterFrontEndPlugin<void> = {
  id: 'gemini-magics:runs',
  description:
    'The Gemini sidebar, notifications when runs end, and the status bar item.',
  autoStart: true,
  requires: [IDocumentManager, IRenderMimeRegistry],
  optional: [ILayoutRestorer, INotebookTracker, IStatusBar, ICommandPalette],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    rendermime: IRenderMimeRegistry,
    restorer: ILayoutRestorer | null,
    tracker: INotebookTracker | null,
    statusBar: IStatusBar | null,
    palette: ICommandPalette | null
  ) => {
    const settings = app.serviceManager.serverSettings;
    const model = new RunsModel(settings);

    const openNotebook = (run: IRun): void => {
      if (run.path) {
        docManager.openOrReveal(run.path);
      }
    };
    const showReport = (run: IRun): void => {
      const { widget, isNew } = reportWidget(run, settings, rendermime);
      if (isNew) {
        app.shell.add(widget, 'main', { mode: 'split-right' });
      }
      app.shell.activateById(widget.id);
    };
    const cancel = async (run: IRun): Promise<void> => {
      try {
        await requestAPI<ICancelReply>(runPath(run.id, 'cancel'), settings, {
          method: 'POST'
        });
      } catch (error) {
        const why = error instanceof APIError ? error.message : String(error);
        Notification.error(`Could not cancel the run: ${why}`, {
          autoClose: 8000
        });
      }
      await model.refresh();
    };

    const panel = new RunsPanel(model, { openNotebook, showReport, cancel });
    panel.id = SIDEBAR_ID;
    panel.title.icon = geminiIcon;
    panel.title.caption = 'Gemini runs';
    app.shell.add(panel, 'left', { rank: 850 });
    restorer?.add(panel, SIDEBAR_ID);

    notifyEnds(model, {
      currentPath: () => {
        const current = app.shell.currentWidget;
        return current
          ? (docManager.contextForWidget(current)?.path ?? null)
          : null;
      },
      openNotebook,
      showReport
    });

    app.commands.addCommand('gemini-magics:show-runs', {
      label: 'Show Gemini Runs',
      icon: geminiIcon,
      execute: () => {
        app.shell.activateById(SIDEBAR_ID);
        return model.refresh();
      }
    });
    palette?.addItem({
      command: 'gemini-magics:show-runs',
      category: 'Gemini'
    });

    if (statusBar && tracker) {
      const item = new GeminiStatus(tracker, settings);
      statusBar.registerStatusItem('gemini-magics:status', {
        item,
        align: 'left',
        rank: 5,
        isActive: () => tracker.currentWidget !== null
      });
    }
  }
};

export default [highlighting, runs];
