"""A small, backend-free description of a figure of 3D panels (points, line segments, text),
written headless to a PNG of an exact pixel size (matplotlib's Agg canvas, no pyplot, no
display) and to a self-contained interactive HTML page (plotly, its JavaScript inlined)."""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

DPI = 100  # fixed: a PNG of --size W H is exactly W x H pixels


@dataclass
class Points:
    """xyz (N, 3) drawn in one colour (RGB 0-255); ``name`` is its legend entry."""
    xyz: np.ndarray
    color: Tuple[int, int, int]
    name: str = ''
    size: float = 1.0  # matplotlib marker area in points^2; plotly diameter 1 + sqrt(size)
    legend: bool = False  # listed in the PNG's legend (plotly always lists named traces)


@dataclass
class Lines:
    """segments (M, 2, 3) drawn in one colour."""
    segments: np.ndarray
    color: Tuple[int, int, int]
    name: str = ''
    width: float = 1.0


@dataclass
class Texts:
    """Strings at positions (T, 3), each in its colour."""
    positions: np.ndarray
    strings: Sequence[str]
    colors: Sequence[Tuple[int, int, int]]


@dataclass
class Panel:
    title: str
    layers: List[object] = field(default_factory=list)


@dataclass
class Figure3D:
    """Panels side by side that share one view (limits, camera)."""
    panels: List[Panel]
    title: str = ''
    elev: float = 35.0
    azim: float = -60.0

    # ------------------------------------------------------------------ geometry
    def bounds(self) -> Tuple[np.ndarray, np.ndarray]:
        """The (3,) minimum and maximum over every layer of every panel."""
        chunks = []
        for panel in self.panels:
            for layer in panel.layers:
                if isinstance(layer, Points):
                    chunks.append(np.asarray(layer.xyz, dtype=np.float64).reshape(-1, 3))
                elif isinstance(layer, Lines):
                    chunks.append(np.asarray(layer.segments, dtype=np.float64).reshape(-1, 3))
        xyz = np.concatenate(chunks) if chunks else np.zeros((1, 3))
        if len(xyz) == 0:
            xyz = np.zeros((1, 3))
        return xyz.min(0), xyz.max(0)

    # ------------------------------------------------------------------ PNG
    def to_png(self, path: str, size: Tuple[int, int] = (800, 400)) -> str:
        """Write a PNG of exactly ``size`` = (width, height) pixels."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
        from mpl_toolkits.mplot3d.art3d import Line3DCollection

        width, height = (int(s) for s in size)
        if width < 16 or height < 16:
            raise ValueError(f'a figure of {width} x {height} pixels is too small')
        # Agg truncates figsize * dpi: a hair more than W / dpi gives exactly W pixels
        fig = Figure(figsize=((width + 0.01) / DPI, (height + 0.01) / DPI), dpi=DPI)
        FigureCanvasAgg(fig)
        lo, hi = self.bounds()
        mid, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6)
        font = max(5.0, min(10.0, height / 45))
        legend: Dict[str, Tuple[int, int, int]] = {}
        n = len(self.panels)
        for i, panel in enumerate(self.panels):
            ax = fig.add_subplot(1, n, i + 1, projection='3d')
            ax.set_position([i / n, 0.0, 1 / n, 0.86 if self.title else 0.92])
            # sparse clouds get larger markers (x1 at 8000 points or more, at most x12)
            count = sum(len(layer.xyz) for layer in panel.layers if isinstance(layer, Points))
            scale = float(np.clip(8000 / max(count, 1), 1, 12))
            for layer in panel.layers:
                if isinstance(layer, Points) and len(layer.xyz):
                    xyz = np.asarray(layer.xyz)
                    ax.scatter(xyz[:, 0], xyz[:, 1], xyz[:, 2], s=layer.size * scale, marker='.',
                               c=[_rgb01(layer.color)], linewidths=0, depthshade=False)
                    if layer.legend and layer.name:
                        legend.setdefault(layer.name, layer.color)
                elif isinstance(layer, Lines) and len(layer.segments):
                    ax.add_collection3d(Line3DCollection(
                        np.asarray(layer.segments), colors=[_rgb01(layer.color)],
                        linewidths=layer.width))
                elif isinstance(layer, Texts):
                    for pos, text, color in zip(layer.positions, layer.strings, layer.colors):
                        ax.text(*pos, text, color=_rgb01(color), fontsize=font * 0.7)
            for set_lim, m in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), mid):
                set_lim(m - half, m + half)
            ax.set_box_aspect((1, 1, 1), zoom=1.45)
            ax.view_init(elev=self.elev, azim=self.azim)
            ax.set_axis_off()
            ax.set_title(panel.title, fontsize=font, pad=0)
        if self.title:
            fig.suptitle(self.title, fontsize=font, y=0.99)
        if legend:
            handles = [Line2D([], [], ls='', marker='o', markersize=font * 0.6,
                              color=_rgb01(c), label=name) for name, c in legend.items()]
            fig.legend(handles=handles, loc='lower center', ncol=min(len(handles), 8),
                       fontsize=font * 0.7, frameon=False, handletextpad=0.1,
                       columnspacing=0.8)
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        fig.savefig(path, dpi=DPI, facecolor='white')
        return path

    # ------------------------------------------------------------------ HTML
    def to_plotly(self):
        """The figure as a ``plotly.graph_objects.Figure`` (one 3D scene per panel)."""
        from plotly import graph_objects as go
        from plotly.subplots import make_subplots

        n = len(self.panels)
        fig = make_subplots(rows=1, cols=n, specs=[[{'type': 'scene'}] * n],
                            subplot_titles=[p.title for p in self.panels],
                            horizontal_spacing=0.01)
        lo, hi = self.bounds()
        mid, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6)
        shown = set()
        for i, panel in enumerate(self.panels):
            for layer in panel.layers:
                trace = None
                if isinstance(layer, Points):
                    xyz = np.asarray(layer.xyz, dtype=np.float32).reshape(-1, 3)
                    trace = go.Scatter3d(
                        x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode='markers',
                        name=layer.name, legendgroup=layer.name,
                        marker=dict(size=float(1 + np.sqrt(layer.size)),
                                    color=_rgb_css(layer.color)))
                elif isinstance(layer, Lines):
                    seg = np.asarray(layer.segments, dtype=np.float32).reshape(-1, 2, 3)
                    gap = np.full((len(seg), 1, 3), np.nan, dtype=np.float32)
                    xyz = np.concatenate([seg, gap], 1).reshape(-1, 3)
                    trace = go.Scatter3d(
                        x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2], mode='lines',
                        name=layer.name, legendgroup=layer.name,
                        line=dict(color=_rgb_css(layer.color), width=2 * layer.width))
                elif isinstance(layer, Texts) and len(layer.strings):
                    pos = np.asarray(layer.positions, dtype=np.float32).reshape(-1, 3)
                    trace = go.Scatter3d(
                        x=pos[:, 0], y=pos[:, 1], z=pos[:, 2], mode='text',
                        text=list(layer.strings), showlegend=False, hoverinfo='text',
                        textfont=dict(size=10, color=[_rgb_css(c) for c in layer.colors]))
                if trace is None:
                    continue
                if trace.name:
                    trace.showlegend = trace.name not in shown
                    shown.add(trace.name)
                fig.add_trace(trace, row=1, col=i + 1)
        camera = _plotly_camera(self.elev, self.azim)
        for i in range(n):
            axis = dict(visible=False)
            fig.layout[f'scene{i + 1 if i else ""}'].update(
                xaxis=dict(axis, range=[mid[0] - half, mid[0] + half]),
                yaxis=dict(axis, range=[mid[1] - half, mid[1] + half]),
                zaxis=dict(axis, range=[mid[2] - half, mid[2] + half]),
                aspectmode='cube', camera=camera)
        fig.update_layout(title=dict(text=self.title), margin=dict(l=0, r=0, t=60, b=0),
                          legend=dict(itemsizing='constant'), template='plotly_white')
        return fig

    def to_html(self, path: str) -> str:
        """Write a self-contained HTML page (plotly.js inlined: no CDN, works offline)."""
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        self.to_plotly().write_html(path, include_plotlyjs=True, include_mathjax=False,
                                    full_html=True, auto_open=False)
        return path

    def save(self, stem: str, formats: Sequence[str] = ('png', 'html'),
             size: Tuple[int, int] = (800, 400)) -> List[str]:
        """Write ``stem.png`` and / or ``stem.html``; returns the paths written."""
        unknown = set(formats) - {'png', 'html'}
        if unknown:
            raise ValueError(f'unknown format(s) {sorted(unknown)}; use png and / or html')
        paths = []
        if 'png' in formats:
            paths.append(self.to_png(stem + '.png', size))
        if 'html' in formats:
            paths.append(self.to_html(stem + '.html'))
        return paths


def _rgb01(color) -> Tuple[float, float, float]:
    return tuple(float(c) / 255 for c in color[:3])


def _rgb_css(color) -> str:
    return 'rgb({},{},{})'.format(*(int(c) for c in color[:3]))


def _plotly_camera(elev: float, azim: float, distance: float = 1.8) -> dict:
    """matplotlib's (elev, azim) in degrees as a plotly camera eye."""
    e, a = np.deg2rad(elev), np.deg2rad(azim)
    return dict(eye=dict(x=float(distance * np.cos(e) * np.cos(a)),
                         y=float(distance * np.cos(e) * np.sin(a)),
                         z=float(distance * np.sin(e))))


def save_figure(fig: Figure3D, out: Optional[str], formats: Sequence[str],
                size: Tuple[int, int]) -> Figure3D:
    """Write ``fig`` when ``out`` (a path without extension) is given; returns ``fig``."""
    if out is not None:
        fig.save(out, formats, size)
    return fig
