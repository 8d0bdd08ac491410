/** `build-image doctor`: what this machine has and lacks for (rootless) builds, with the fixing commands. */
import { formatProbe, probe } from '../../rootless/index.js';
import { parseFlags } from '../flags.js';
import type { CommandSpec } from '../io.js';

export const doctorCommand: CommandSpec = {
  name: 'doctor',
  summary: 'Check user namespaces, subuid ranges, overlayfs and the OCI runtime; say how to fix what is missing',
  usage: 'build-image doctor [--json]',
  async run(argv, io) {
    const args = parseFlags(argv, [{ name: 'json', type: 'boolean' }]);
    const report = await probe();
    io.stdout(args.booleans.has('json') ? `${JSON.stringify(report, null, 2)}\n` : `${formatProbe(report)}\n`);
    return report.ready ? 0 : 1;
  },
};
