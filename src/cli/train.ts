/**
 * `dnf train <train-root> --val <val-root> -o RUN_DIR`: a DNF detector from two folders of images,
 * with the reference's protocol (src/node/train/run.ts; reference section 3).
 *
 * The roots hold DNF images (what `dnf extract` writes) in the layouts `dnf eval` reads; with
 * --images they hold source images, whose DNFs are computed once through the UNet into a cache
 * folder (default RUN_DIR/dnf/{train,val}, extract's layout, resumed like extract) and trained on
 * from there. The model it writes (RUN_DIR/best.safetensors) is what `dnf detect --classifier`
 * and `dnf eval --classifier` take, with no other flag. With --images, the source images' formats
 * are checked for a class difference first (src/node/format-bias.ts), and --equalize / --perturb
 * change them before their DNFs (cached then in a subfolder named by the steps).
 *
 * Exit status: 0 trained, 1 trained but some images could not be read (skipped), 2 usage or setup
 * error, 130 Ctrl-C (last.safetensors saved: --resume continues).
 */
import { join } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { DnfError } from '../errors.js';
import { runTrain, type RunSettings, type TrainOptions } from '../node/train/run.js';
import { runExtract } from './extract.js';
import { findEvalSets } from '../node/eval-layout.js';
import { IMAGE_EXTENSIONS } from '../node/batch/inputs.js';
import { findFormatBias } from '../node/format-bias.js';
import { addPerturbOptions, inputSteps, refuseOnDnfs, stepsCacheDir, type PerturbOptions } from './perturb-options.js';
import { addUnetOptions, antialiasOption, positiveInt, type UnetOptions } from './unet-options.js';

const TRAIN_ARCHS = ['resnet18', 'resnet34', 'resnet50'] as const;

const positiveNumber = (what: string) => (v: string): number => {
  const x = Number(v);
  if (!Number.isFinite(x) || x <= 0) throw new InvalidArgumentError(`${what} must be a positive number.`);
  return x;
};

const betasArg = (v: string): [number, number] => {
  const parts = v.split(',').map((p) => Number(p.trim()));
  if (parts.length !== 2 || parts.some((b) => !Number.isFinite(b) || b < 0 || b >= 1)) {
    throw new InvalidArgumentError('--betas must be two numbers in [0, 1) separated by a comma, e.g. 0.9,0.999.');
  }
  return [parts[0], parts[1]];
};

const seedArg = (v: string): number => {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) throw new InvalidArgumentError('--seed must be an integer from 0 to 4294967295.');
  return x;
};

interface CliOpts extends Partial<UnetOptions>, PerturbOptions {
  val: string;
  output: string;
  images?: boolean;
  cache?: string;
  arch?: string;
  init?: string;
  batchSize?: number;
  lr?: number;
  betas?: [number, number];
  epochs?: number;
  maxSteps?: number;
  imageSize?: number;
  seed?: number;
  flip: boolean;
  shuffle: boolean;
  patience?: number;
  minLr?: number;
  select?: 'acc' | 'ap';
  saveEvery?: number;
  resume?: boolean;
}

/**
 * DNFs of the source images of `root` into `dir` (extract's layout): the images that failed (each
 * named on stderr by extract, left out of training), or null when interrupted.
 */
async function extractInto(root: string, dir: string, cli: CliOpts, backend: string | undefined): Promise<number | null> {
  const report = await runExtract([root], {
    ...(cli as UnetOptions),
    ...antialiasOption(cli.antialias),
    perturb: cli.perturb,
    equalize: cli.equalize,
    output: dir,
    format: 'png',
    overwrite: false,
    backend,
  });
  if (report.interrupted) {
    process.stderr.write(`train: interrupted while computing the DNFs of ${root}; run the same command again to go on (DNFs done are kept in ${dir})\n`);
    return null;
  }
  return report.failed;
}

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a DNF detector (torchvision ResNet) on real and generated images, with the reference protocol; writes RUN_DIR/best.safetensors for detect and eval')
    .argument('<train-root>', 'the training images: <root>/0_real and 1_fake (any depth, CNNDetection class folders allowed) or GenImage nature/ai; DNF images, or source images with --images')
    .requiredOption('--val <val-root>', 'the validation root, in the same layout (accuracy and AP after every epoch decide the early stopping)')
    .requiredOption('-o, --output <dir>', 'the run folder: last.safetensors, best.safetensors, log.jsonl, curves.svg')
    .option('--images', 'the roots hold source images: compute their DNFs once through the UNet (cached, see --cache) and train on those')
    .option('--cache <dir>', 'with --images: where the DNFs go (extract\'s layout; default RUN_DIR/dnf/train and RUN_DIR/dnf/val)')
    .addOption(new Option('--arch <name>', 'torchvision architecture of a new model (default resnet50)').choices(TRAIN_ARCHS))
    .option('--init <file>', 'start from these weights (safetensors or PyTorch .pth; the architecture is read from its keys; an fc with other outputs is replaced)')
    .option('--batch-size <n>', 'images per step (default 64)', positiveInt('--batch-size'))
    .option('--lr <x>', 'Adam learning rate (default 1e-4)', positiveNumber('--lr'))
    .option('--betas <b1,b2>', 'Adam betas (default 0.9,0.999)', betasArg)
    .option('--epochs <n>', 'upper bound on epochs (default 10000, the reference\'s niter)', positiveInt('--epochs'))
    .option('--max-steps <n>', 'stop after this many steps (validated and saved)', positiveInt('--max-steps'))
    .option('--image-size <px>', 'the classifier\'s input side: every DNF is resized to it with bicubic (default 256)', positiveInt('--image-size'))
    .option('--seed <s>', 'seeds the init, the shuffles and the flips (default 0)', seedArg)
    .option('--no-flip', 'no random horizontal flips')
    .option('--no-shuffle', 'batches in ImageFolder\'s order (classes sorted, files sorted), as PyTorch with shuffle=False')
    .option('--patience <n>', 'epochs without an improvement before lr /= 10 (default 5)', positiveInt('--patience'))
    .option('--min-lr <x>', 'training ends when lr falls below this (default 1e-6)', positiveNumber('--min-lr'))
    .addOption(new Option('--select <metric>', 'the validation score for early stopping and best.safetensors: acc (the reference) or ap (robust to the BatchNorm lag of small sets)').choices(['acc', 'ap']))
    .option('--save-every <steps>', 'also save last.safetensors every this many steps (default: every 10 minutes and after every epoch)', positiveInt('--save-every'))
    .option('--resume', 'continue the run in RUN_DIR from its last.safetensors, exactly as if it had never stopped');
  addPerturbOptions(addUnetOptions(cmd), true).action(async (trainRoot: string, cli: CliOpts, command: Command) => {
    const backend = program.opts().backend;
    const given = (name: string) => command.getOptionValueSource(name) === 'cli' || command.getOptionValueSource(name) === 'env';
    let roots = { train: trainRoot, val: cli.val };
    /** Source images whose DNF could not be computed (left out of the run). */
    let unextracted = 0;
    refuseOnDnfs(cli, !cli.images, 'without --images');
    if (cli.images) {
      // Format bias of the source images, before any DNF: the classifier would learn it.
      for (const root of [trainRoot, cli.val]) {
        const layout = await findEvalSets(root, IMAGE_EXTENSIONS, [cli.output, ...(cli.cache ? [cli.cache] : [])], root === trainRoot ? 'train' : 'eval');
        for (const f of await findFormatBias([{ name: '', items: layout.subsets.flatMap((s) => s.items) }], cli.equalize)) process.stderr.write(`train: warning: ${root}: ${f.message}\n`);
      }
      const cache = stepsCacheDir(cli.cache ?? join(cli.output, 'dnf'), inputSteps(cli));
      roots = { train: join(cache, 'train'), val: join(cache, 'val') };
      for (const [root, dir] of [[trainRoot, roots.train], [cli.val, roots.val]]) {
        const failed = await extractInto(root, dir, cli, backend);
        if (failed === null) {
          process.exitCode = 130;
          return;
        }
        unextracted += failed;
      }
    } else if (cli.cache) {
      throw new DnfError('--cache keeps DNFs computed with --images; without --images the roots hold DNFs already: drop --cache or add --images');
    }
    const settings: RunSettings = {
      arch: cli.arch, init: cli.init, batchSize: cli.batchSize, lr: cli.lr, betas: cli.betas, imageSize: cli.imageSize, seed: cli.seed,
      patience: cli.patience, minLr: cli.minLr, select: cli.select,
      flip: given('flip') ? cli.flip : undefined,
      shuffle: given('shuffle') ? cli.shuffle : undefined,
      antialias: given('antialias') ? cli.antialias : undefined,
    };
    const opts: TrainOptions = {
      ...settings, trainRoot: roots.train, valRoot: roots.val, output: cli.output,
      epochs: cli.epochs, maxSteps: cli.maxSteps, resume: !!cli.resume, saveEvery: cli.saveEvery, backend,
    };
    const report = await runTrain(opts);
    process.exitCode = report.reason === 'interrupted' ? 130 : report.bad + unextracted > 0 ? 1 : 0;
  });
}
