"""
Model colour tracks for the colour-colour diagram.

PHANGS-HST draws the Bruzual & Charlot (2003) simple-stellar-population
track of solar metallicity in its U−B vs V−I diagrams (Whitmore et al.
2021, §5). :data:`TRACK_COLORS` names the track's colours and the HST
bands they are made of; the track itself is read by
`~astro_clusterclass.io.read_bc03_track` (the solar track shipped with the
package by default), which `astro_clusterclass.compare` re-exports.
"""

__all__ = ['TRACK_COLORS']

#: Colours of a track and the HST bands they are made of.
TRACK_COLORS = {'ub': 'F336W-F438W', 'vi': 'F555W-F814W', 'bv': 'F438W-F555W',
                'nuvb': 'F275W-F438W', 'nuvu': 'F275W-F336W'}
