"""
The shared private layer: checks, column access, output files and flags.

Every subpackage may import from here (and from nowhere else's private
names). Nothing here is public API: the public functions that use these
helpers document the behaviour.

- `validation`: integer/float/choice checks whose errors name the parameter;
- `columns`: "is not a column" errors and column values as float arrays
  (masked → NaN, units converted);
- `files`: the output policy (one `FileExistsError`, one message) and
  atomic writes (a temporary file in the same folder, renamed into place);
- `distance`: distance moduli through `astropy.coordinates.Distance`;
- `flags`: the base class of the package's bit flags;
- `errors`: `CheckpointError` (every failure to read a checkpoint or
  resume file, one line naming it) and `DamagedFileWarning`;
- `pixels`: positions to pixel indices without integer overflow;
- `locks`: one run at a time on a folder (an exclusive lock, refused clearly).
"""
