"""``clusterclass import-model``: a PyTorch checkpoint trained elsewhere into a model file."""

import json

from .._utils.files import check_output
from ..models import import_checkpoint, list_models, load_model

__all__ = ['add_parser', 'run', 'parse_normalization']


def add_parser(subparsers):
    parser = subparsers.add_parser(
        'import-model', help='import a PyTorch checkpoint trained elsewhere (StarcNet, ...)',
        description='Read a PyTorch state dict trained elsewhere (never running pickled '
                    'code), fit it strictly to a registered architecture and write a '
                    'safetensors checkpoint that records its bands, stamp, normalisation, '
                    'classes, the source file\'s SHA-256, citation and licence; pass it to '
                    '"clusterclass classify -m". StarcNet\'s published model/starcnet.pth '
                    '(github.com/gperezs/StarcNet) imports with "--from starcnet" and its '
                    'own preprocessing; other architectures need --bands, --cutout-size '
                    'and --normalization.')
    parser.add_argument('checkpoint', metavar='PATH',
                        help='the .pth/.pt file (torch.save of a state dict) or a '
                             'safetensors file of tensors')
    parser.add_argument('--from', dest='source', required=True, choices=list_models(),
                        help='what the file is: starcnet, or the registered architecture '
                             'of the state dict')
    parser.add_argument('-o', '--output', required=True,
                        help='the safetensors checkpoint to write')
    parser.add_argument('--bands', nargs='+', default=None, metavar='BAND',
                        help='the five bands of the input channels, in the file\'s order '
                             '(default for starcnet: F275W F336W F438W F555W F814W)')
    parser.add_argument('--cutout-size', type=int, default=None, metavar='N',
                        help='stamp side in pixels the model was trained on (starcnet: 32)')
    parser.add_argument('--normalization', default=None, metavar='METHOD_OR_JSON',
                        help="input normalisation: a method ('asinh', 'robust', 'none') or "
                             'a JSON object such as \'{"method": "standard", "mean": [...], '
                             '"std": [...]}\'; default for starcnet: its per-band offsets')
    parser.add_argument('--mean', nargs=5, type=float, default=None, metavar='M',
                        help="'standard' normalisation: five per-band means (with --std)")
    parser.add_argument('--std', nargs=5, type=float, default=None, metavar='S',
                        help="'standard' normalisation: five per-band standard deviations")
    parser.add_argument('--mean-file', default=None, metavar='NPY',
                        help="per-band offsets from a numpy .npy file (StarcNet's "
                             'data/mean.npy), replacing the normalisation')
    parser.add_argument('--shift', type=float, default=None,
                        help='centring rule: the stamp is centred on pixel floor(x + SHIFT) '
                             'of the 0-based position x (starcnet: 1.0, its truncated 1-based '
                             'positions; others: 0.5, the nearest pixel)')
    parser.add_argument('--trained-on', choices=('real', 'simulations'), default=None,
                        help='what the weights were trained on (starcnet: real)')
    parser.add_argument('--license', default=None, help='licence of the weights')
    parser.add_argument('--citation', default=None, help='reference to cite for the weights')
    parser.add_argument('--description', default=None, help='one-line description')
    parser.add_argument('--overwrite', action='store_true')
    parser.set_defaults(func=run)


def parse_normalization(text, *, mean=None, std=None):
    """
    The ``normalization`` argument of `~astro_clusterclass.models.import_checkpoint` from flags.

    Examples
    --------
    >>> from astro_clusterclass.cli.import_model import parse_normalization
    >>> parse_normalization('asinh')
    {'method': 'asinh'}
    >>> parse_normalization('{"method": "robust", "clip": 5}')
    {'method': 'robust', 'clip': 5}
    >>> parse_normalization(None, mean=[0] * 5, std=[1] * 5)['method']
    'standard'
    >>> parse_normalization(None) is None
    True
    """
    if (mean is None) != (std is None):
        msg = '--mean and --std go together (a standard normalisation needs both)'
        raise ValueError(msg)
    if mean is not None:
        if text not in (None, 'standard'):
            msg = f'--mean/--std make a standard normalisation; drop --normalization {text}'
            raise ValueError(msg)
        return {'method': 'standard', 'mean': list(mean), 'std': list(std)}
    if text is None:
        return None
    if text.lstrip().startswith('{'):
        try:
            spec = json.loads(text)
        except ValueError as exc:
            msg = f'--normalization: {text!r} is not valid JSON ({exc})'
            raise ValueError(msg) from exc
        if not isinstance(spec, dict):
            msg = f'--normalization: expected a JSON object, got {text!r}'
            raise ValueError(msg)
        return spec
    return {'method': text}


#: Keywords of import_checkpoint → the flags that set them (for error messages).
_FLAGS = {'bands': '--bands', 'cutout_size': '--cutout-size', 'normalization': '--normalization',
          'mean_file': '--mean-file', 'shift': '--shift', 'trained_on': '--trained-on'}


def run(args):
    check_output(args.output, overwrite=args.overwrite, parameter='-o/--output',
                 flag='--overwrite')
    normalization = parse_normalization(args.normalization, mean=args.mean, std=args.std)
    try:
        digest = import_checkpoint(
            args.checkpoint, source=args.source, output=args.output, bands=args.bands,
            cutout_size=args.cutout_size, normalization=normalization,
            mean_file=args.mean_file, shift=args.shift, trained_on=args.trained_on,
            license=args.license, citation=args.citation, description=args.description,
            overwrite=args.overwrite)
    except ValueError as exc:
        text = str(exc)
        for name, flag in _FLAGS.items():
            if text.startswith(name) and not text.startswith('checkpoint'):
                raise ValueError(flag + text[len(name):]) from exc
        raise
    meta = load_model(args.output, sha256=digest).meta
    transform = meta['transform']
    print(f'imported {args.checkpoint} (sha256 {meta["import"]["source_sha256"][:12]}) as '
          f'{meta["architecture"]}: {meta["num_params"]} parameters, bands '
          f'{" ".join(meta["bands"])}, {transform["size"]} px stamps centred with shift '
          f'{transform["shift"]}, normalization {transform["normalization"]["method"]}, '
          f'trained on {meta.get("trained_on") or "unknown data"}; wrote {args.output} '
          f'(sha256 {digest[:12]})')
