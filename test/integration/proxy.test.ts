import * as assert from 'assert';
import * as vscode from 'vscode';
import { startTestProxy, type TestProxy } from '../unit/helpers/testProxy';
import { activateExtension, readLog, signIn, state, waitFor } from './helpers';
import { SimulatorProcess } from './simulator';

const proxySettings = ['proxy', 'proxyAuthorization', 'noProxy'] as const;
const setHttp = (key: (typeof proxySettings)[number], value: unknown) => vscode.workspace.getConfiguration('http').update(key, value, vscode.ConfigurationTarget.Global);

describe('proxies: http.proxy, http.proxyAuthorization and http.noProxy from the user settings', function () {
  this.timeout(60_000);
  let sim: SimulatorProcess;
  let proxy: TestProxy;
  const authorization = `Basic ${Buffer.from('alice:proxy-secret-pw').toString('base64')}`;

  /** The tunnels the proxy opened to the RunComfy simulator (requests VS Code itself forwards are not ours). */
  const tunnelsToApi = () => proxy.visits.filter((v) => v.method === 'CONNECT' && v.target === new URL(sim.info.runcomfyUrl).host);
  const workflowsRow = async () => (await state()).workflowsTree[0]?.label;
  const workflowsListed = () => waitFor('Flux portrait in the Workflows view', async () => (await state()).workflowsTree.some((i) => i.label === 'Flux portrait'));

  before(async () => {
    await activateExtension();
    await vscode.commands.executeCommand('runcomfy.signOut');
    sim = await SimulatorProcess.start();
    proxy = await startTestProxy({ authorization });
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', sim.info.runcomfyUrl, vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    for (const key of proxySettings) await setHttp(key, undefined);
    await vscode.commands.executeCommand('runcomfy.signOut');
    await vscode.workspace.getConfiguration('runcomfy').update('apiUrl', undefined, vscode.ConfigurationTarget.Global);
    sim.stop();
    await proxy.close();
  });

  it('sign-in and refresh go through the proxy the settings name, with its credentials; a change applies without a reload', async () => {
    await setHttp('proxy', proxy.url);
    await setHttp('proxyAuthorization', authorization);
    const logDirectory = (await state()).logDirectory;
    await waitFor('the proxy line in the log', () => readLog(logDirectory).includes(`Network: via proxy ${proxy.url} (from the http.proxy setting); with Proxy-Authorization.`));

    await signIn(sim.info.userId, sim.info.tokens[0]);
    await vscode.commands.executeCommand('runcomfy.refresh');
    await workflowsListed();
    const tunnels = tunnelsToApi();
    assert.ok(tunnels.length > 0, `the proxy saw no tunnel to RunComfy: ${JSON.stringify(proxy.visits)}`);
    assert.ok(tunnels.every((v) => v.proxyAuthorization === authorization && v.authorization === undefined), 'a tunnel without the credentials, or the token readable by the proxy');
    assert.ok(!readLog(logDirectory).includes('proxy-secret-pw') && !readLog(logDirectory).includes(authorization), 'the proxy credentials reached the log');

    // Without the credentials the proxy refuses, and the view says so by itself: a settings change refreshes the views.
    await setHttp('proxyAuthorization', undefined);
    await waitFor('the proxy line without credentials', () => readLog(logDirectory).includes(`Network: via proxy ${proxy.url} (from the http.proxy setting).`));
    const refused = await waitFor('the proxy refusal in the Workflows view', async () => {
      const label = await workflowsRow();
      return label?.includes('407') ? label : undefined;
    });
    assert.match(refused, /^Could not list workflows: List workflows failed: the proxy asks for credentials \(HTTP 407 Proxy Authentication Required\) \(via proxy 127\.0\.0\.1:\d+\)\.$/);

    // http.noProxy names the API: the views fetch again by themselves, direct, and the proxy sees nothing more.
    const seen = tunnelsToApi().length;
    await setHttp('noProxy', [new URL(sim.info.runcomfyUrl).host]);
    await waitFor('the http.noProxy entry in the log', () => readLog(logDirectory).includes(`not for ${new URL(sim.info.runcomfyUrl).host}`));
    await workflowsListed();
    assert.strictEqual(tunnelsToApi().length, seen, 'the proxy saw a request to a http.noProxy host');
  });
});
