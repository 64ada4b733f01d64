"""
An independent StarcNet for the tests, written from the published facts only.

Nothing here uses the package: the stamps are cut with StarcNet's own rule
(``data[int(y)-16:int(y)+16, int(x)-16:int(x)+16]`` with the 1-based LEGUS
positions, candidates closer than 17 px to a border dropped), the offsets
are subtracted in float64 as StarcNet's script does, and the network is
evaluated with functional torch operations on the state dict (the
nearest-neighbour upsampling as explicit index arrays). State dicts are made
by `StarcNetLayout`, which registers its layers in the order and under the
names of StarcNet's ``Net``, and saved as StarcNet saves them
(``torch.save(model.state_dict(), path)``).
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ['StarcNetLayout', 'random_starcnet_state_dict', 'starcnet_stamps',
           'starcnet_probabilities', 'STARCNET_MEAN', 'rounded_stamps']

#: StarcNet's data/mean.npy (F275W, F336W, F435W/F438W, F555W/F606W, F814W).
STARCNET_MEAN = np.array([0.02376737085711172, 0.13796898991372922, 0.14457472840383698,
                          0.25429259936146564, 0.3901880480545905])

_LAYERS = (1, 3, 4, 7, 8, 11, 12)


class StarcNetLayout(nn.Module):
    """StarcNet's layers under their published names, registered in its order (no forward)."""

    def __init__(self):
        super().__init__()
        for prefix in ('', 'a', 'aa'):
            cin = 5
            for i in _LAYERS:
                setattr(self, f'{prefix}conv{i}', nn.Conv2d(cin, 128, kernel_size=3, padding=1))
                setattr(self, f'{prefix}bn{i}', nn.GroupNorm(8, 128))
                setattr(self, f'{prefix}relu{i}', nn.LeakyReLU())
                cin = 128
                if i == 7:
                    setattr(self, f'{prefix}pool2', nn.MaxPool2d(2, 2))
            setattr(self, f'{prefix}fc1', nn.Linear(128 * 16 * 16, 128))
            setattr(self, f'{prefix}bn13', nn.GroupNorm(8, 128))
            setattr(self, f'{prefix}relu13', nn.LeakyReLU())
            setattr(self, f'{prefix}dropout1', nn.Dropout())
            if prefix == '':
                self.fc2 = nn.Linear(384, 4)


def random_starcnet_state_dict(seed=0, *, logit_scale=30.0):
    """A random state dict of StarcNet's layout; group norms and head spread the classes."""
    torch.manual_seed(seed)
    net = StarcNetLayout()
    with torch.no_grad():
        for name, param in net.named_parameters():
            if '.weight' in name and 'bn' in name:
                param.normal_(1.0, 0.2)
            elif '.bias' in name and 'bn' in name:
                param.normal_(0.0, 0.2)
        net.fc2.weight.mul_(logit_scale)
    return net.state_dict()


def starcnet_stamps(data, x, y, mean=STARCNET_MEAN):
    """
    StarcNet's stamps of 0-based positions x, y, and which candidates StarcNet keeps.

    ``data`` are the five band arrays in StarcNet's band order.
    """
    X, Y = np.asarray(x, float) + 1.0, np.asarray(y, float) + 1.0   # LEGUS 1-based
    ty, tx = data[0].shape
    w = 16
    with np.errstate(invalid='ignore'):
        keep = (X > w + 1) & (tx - X > w + 1) & (Y > w + 1) & (ty - Y > w + 1)
    stamps = np.zeros((len(X), 5, 32, 32))
    for n in np.flatnonzero(keep):
        xi, yi = int(X[n]), int(Y[n])
        for b in range(5):
            stamps[n, b] = data[b][yi - w:yi + w, xi - w:xi + w]
    stamps -= mean[np.newaxis, :, np.newaxis, np.newaxis]
    return stamps.astype(np.float32), keep


def rounded_stamps(data, x, y, mean=STARCNET_MEAN):
    """The same stamps centred on the nearest pixel instead (a wrong rule, for sensitivity)."""
    return starcnet_stamps(data, np.floor(np.asarray(x) + 0.5) - 1.0,
                           np.floor(np.asarray(y) + 0.5) - 1.0, mean)


def _branch(state, prefix, x):
    for i in _LAYERS:
        x = F.conv2d(x, state[f'{prefix}conv{i}.weight'], state[f'{prefix}conv{i}.bias'],
                     padding=1)
        x = F.group_norm(x, 8, state[f'{prefix}bn{i}.weight'], state[f'{prefix}bn{i}.bias'])
        x = F.leaky_relu(x, 0.01)
        if i == 7:
            x = F.max_pool2d(x, 2)
    x = F.linear(x.reshape(x.shape[0], -1), state[f'{prefix}fc1.weight'],
                 state[f'{prefix}fc1.bias'])
    return F.leaky_relu(F.group_norm(x, 8, state[f'{prefix}bn13.weight'],
                                     state[f'{prefix}bn13.bias']), 0.01)


def _upsampled(x, start, side):
    """Nearest-neighbour upsampling of the crop [start:start+side] to 32 px, by index."""
    index = start + (np.arange(32) * side) // 32
    return x[:, :, index][:, :, :, index]


def starcnet_probabilities(state, stamps, batch=16):
    """Softmax of StarcNet's logits for ``(N, 5, 32, 32)`` stamps (float64 result)."""
    out = []
    with torch.no_grad():
        for b in range(0, len(stamps), batch):
            x = torch.as_tensor(stamps[b:b + batch])
            feats = [_branch(state, '', x), _branch(state, 'a', _upsampled(x, 6, 20)),
                     _branch(state, 'aa', _upsampled(x, 11, 11))]
            logits = F.linear(torch.cat(feats, 1), state['fc2.weight'], state['fc2.bias'])
            out.append(torch.softmax(logits.double(), dim=1).numpy())
    return np.concatenate(out) if out else np.zeros((0, 4))
