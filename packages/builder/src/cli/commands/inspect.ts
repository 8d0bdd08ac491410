/** `build-image inspect`: an image's config and history with layer sizes (`docker image inspect` + `docker history`). */
import { DockerConfigCredentialStore, RegistryClient } from '../../registry/index.js';
import { formatInspection, inspectImage } from '../../inspect/index.js';
import { parseFlags } from '../flags.js';
import { UsageError, type CommandSpec } from '../io.js';

export const inspectCommand: CommandSpec = {
  name: 'inspect',
  summary: 'Show an image\'s config and history with layer sizes (registry ref, OCI/docker archive or OCI layout dir)',
  usage: 'build-image inspect [--platform P] [--insecure-registry HOST]... [--json] REF|ARCHIVE|LAYOUT-DIR|oci-layout://DIR[:TAG]',
  async run(argv, io) {
    const args = parseFlags(argv, [
      { name: 'platform', type: 'string' },
      { name: 'insecure-registry', type: 'list' },
      { name: 'json', type: 'boolean' },
    ]);
    if (args.positionals.length !== 1) throw new UsageError('inspect needs exactly one image (a reference, an archive or a layout directory)');
    const platform = args.values.get('platform')?.[0];
    const insecure = args.values.get('insecure-registry') ?? [];
    const registry = new RegistryClient({ auth: new DockerConfigCredentialStore(), ...(insecure.length ? { insecureRegistries: insecure } : {}) });
    const info = await inspectImage(args.positionals[0]!, { cwd: io.cwd, registry, ...(platform ? { platform } : {}) });
    io.stdout(args.booleans.has('json') ? `${JSON.stringify(info, null, 2)}\n` : formatInspection(info));
    return 0;
  },
};
