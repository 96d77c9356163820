"""CMS-style plots of the analysis templates: stacked backgrounds with data, and shift comparisons.

Plain functions on numpy arrays (no law, no ROOT), so that tasks can feed them from any
histogram source and tests can run them on synthetic arrays. The Agg backend is selected
before pyplot is imported: tasks run on batch nodes and Dask workers without a display.
The CMS style is applied per figure (a style context) rather than globally, so importing
this module does not change the rcParams of the process that imports it.
"""

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

# the data are synthetic: say so on every plot instead of "Preliminary"
LABEL_TEXT = "Private work (synthetic)"
COM = 13
FIGSIZE = (10, 10)
DPI = 100
RATIO_HALF_RANGE = 0.5
SIGNAL_STYLES = ("--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))


def to_color(color):
    """A matplotlib color; order processes carry RGB tuples in 0..255, which are scaled to 0..1."""
    if isinstance(color, (tuple, list)) and any(c > 1 for c in color):
        return tuple(c / 255.0 for c in color)
    return color


def total_uncertainty(nominal, variances, shifts, lnn):
    """Per-bin (down, up) absolute uncertainty of the total background.

    nominal: total background per bin; variances: MC stat variance per bin of the total;
    shifts: {source: (up_total, down_total)} shifted totals per shape source;
    lnn: list of (rel_up, rel_down, affected_nominal) for lnN nuisances (lumi on all
    backgrounds, a cross section on one process); the relative values may be per bin.

    A shape source is one nuisance: its up and down variations are two points of it, so
    each side gets the larger deviation towards it (both variations above the nominal put
    the larger on the up side and nothing on the down side, as the yield table does).
    Sources are independent and added in quadrature with the MC statistics.
    """
    nominal = np.asarray(nominal, dtype=float)
    stat2 = np.asarray(variances, dtype=float)
    up2, down2 = stat2.copy(), stat2.copy()
    for up_total, down_total in shifts.values():
        d_up = np.asarray(up_total, dtype=float) - nominal
        d_down = np.asarray(down_total, dtype=float) - nominal
        up2 += np.maximum(np.maximum(d_up, d_down), 0.0) ** 2
        down2 += np.maximum(np.maximum(-d_up, -d_down), 0.0) ** 2
    for rel_up, rel_down, affected in lnn:
        affected = np.asarray(affected, dtype=float)
        up2 += (rel_up * affected) ** 2
        down2 += (rel_down * affected) ** 2
    return np.sqrt(down2), np.sqrt(up2)


def axes():
    """Main and ratio axes sharing x, the ratio panel a third of the main one and touching it."""
    fig, (ax, rax) = plt.subplots(2, 1, figsize=FIGSIZE, sharex=True,
                                  gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05})
    fig.subplots_adjust(left=0.13, right=0.96, top=0.94, bottom=0.1)
    return fig, ax, rax


def decorate(ax, rax, edges, x_label, unit, category_label, lumi_fb, ratio_label, ymax, log=False, lowest=0.0):
    """Axis labels, CMS header, category text and a y range that leaves room for the legend."""
    # data=True: "Simulation" would collide with the lumi text, and LABEL_TEXT already says synthetic
    mplhep.cms.label(LABEL_TEXT, ax=ax, data=True, lumi=lumi_fb, lumi_format="{0:.1f}", com=COM, loc=0)
    ax.text(0.04, 0.95, category_label, transform=ax.transAxes, ha="left", va="top", fontsize="small")
    ax.set_ylabel("Events / bin")
    # order variables give dimensionless quantities the unit "1", which gets no brackets
    rax.set_xlabel(f"{x_label} [{unit}]" if unit and unit != "1" else x_label)
    rax.set_ylabel(ratio_label)
    rax.axhline(1.0, color="black", linewidth=1, linestyle="--")
    rax.set_xlim(edges[0], edges[-1])
    if log:
        ax.set_yscale("log")
        # the bottom shows the smallest positive component (at most 5 decades below the peak),
        # the top ~40% of the decades is left for the legend and the labels
        peak = float(np.max(ymax)) if np.any(ymax > 0) else 1.0
        low = max(0.5 * lowest, peak * 1e-5) if lowest > 0 else peak * 1e-3
        ax.set_ylim(low, low * (peak / low) ** 1.7)
    else:
        top = float(np.max(ymax)) if len(ymax) else 1.0
        ax.set_ylim(0, 1.7 * top if top > 0 else 1.0)  # the same headroom on a linear scale


def save(fig, path):
    """Write path.png and path.pdf (parent directories made) and free the figure."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    fig.savefig(path + ".png", dpi=DPI)
    fig.savefig(path + ".pdf")
    plt.close(fig)


def plot_stack(path, edges, backgrounds, signals, data, band, x_label, category_label, lumi_fb, unit=None, log=False,
               note=None):
    """Stacked backgrounds, signal lines, data points, hatched uncertainty band and a data/MC ratio panel.

    backgrounds: [(label, color, values)] in stacking order (first at the bottom);
    signals: [(label, color, values)], drawn unstacked so their shape is visible on its own;
    data: values with Poisson errors sqrt(n), or None where there are none to show (a
    blinded category, a config without data: then the ratio panel only shows the relative
    band, and ``note`` says why under the category); band: (down, up) absolute uncertainty
    of the stack total. Writes path.png and path.pdf. Returns the stacked total per bin,
    so that callers can cross-check it against the yield tables.
    """
    edges = np.asarray(edges, dtype=float)
    centers = 0.5 * (edges[1:] + edges[:-1])
    total = np.zeros(len(edges) - 1)
    down, up = (np.asarray(b, dtype=float) for b in band)
    with plt.style.context(mplhep.style.CMS):
        fig, ax, rax = axes()
        for label, color, values in backgrounds:
            values = np.asarray(values, dtype=float)
            ax.stairs(total + values, edges, baseline=total.copy(), fill=True, color=to_color(color), label=label)
            total = total + values
        ax.stairs(total, edges, color="black", linewidth=1)
        ax.stairs(total + up, edges, baseline=total - down, fill=True, facecolor="none", edgecolor="dimgray",
                  hatch="///", linewidth=0, label="Bkg. unc.")
        for i, (label, color, values) in enumerate(signals):
            ax.stairs(np.asarray(values, dtype=float), edges, color=to_color(color), linewidth=2.5,
                      linestyle=SIGNAL_STYLES[i % len(SIGNAL_STYLES)], label=label)
        safe = np.where(total > 0, total, np.nan)
        rax.stairs(1 + up / safe, edges, baseline=1 - down / safe, fill=True, facecolor="none",
                   edgecolor="dimgray", hatch="///", linewidth=0)
        ymax = total + up
        if data is not None:
            data = np.asarray(data, dtype=float)
            error = np.sqrt(np.maximum(data, 0.0))
            ax.errorbar(centers, data, yerr=error, fmt="o", color="black", markersize=6, label="Data")
            rax.errorbar(centers, data / safe, yerr=error / safe, fmt="o", color="black", markersize=6)
            ymax = np.maximum(ymax, data + error)
        for s in signals:
            ymax = np.maximum(ymax, np.asarray(s[2], dtype=float))
        components = [np.asarray(v, dtype=float) for _, _, v in list(backgrounds) + list(signals)]
        lowest = min((c[c > 0].min() for c in components if np.any(c > 0)), default=0.0)
        decorate(ax, rax, edges, x_label, unit, category_label, lumi_fb,
                  "Data / MC" if data is not None else "Unc. / MC", ymax, log, lowest)
        if note:
            ax.text(0.04, 0.90, note, transform=ax.transAxes, ha="left", va="top", fontsize="small")
        # legend: data, the backgrounds top-down as stacked, the band, the signals (errorbar
        # containers come last in matplotlib's handle list, the stack first)
        handles, labels = ax.get_legend_handles_labels()
        n, k = len(backgrounds), len(signals)
        order = list(range(n + 1 + k, len(handles))) + list(range(n - 1, -1, -1)) + list(range(n, n + 1 + k))
        ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper right", ncols=2,
                  fontsize="small", frameon=False)
        # widen the ratio range where the band would not fit, up to 0..2
        rel = np.nan_to_num(np.concatenate([up / safe, down / safe]))
        half = min(max(RATIO_HALF_RANGE, 1.2 * float(rel.max(initial=0.0))), 1.0)
        rax.set_ylim(1 - half, 1 + half)
        save(fig, path)
    return total


def plot_shift(path, edges, nominal, up, down, source, x_label, category_label, lumi_fb, unit=None):
    """Total background under one shift source: up, nominal and down, and shift/nominal below.

    Meant to check a source's templates by eye (size, sign, smoothness) before the fit.
    Writes path.png and path.pdf.
    """
    edges = np.asarray(edges, dtype=float)
    nominal, up, down = (np.asarray(a, dtype=float) for a in (nominal, up, down))
    safe = np.where(nominal > 0, nominal, np.nan)
    with plt.style.context(mplhep.style.CMS):
        fig, ax, rax = axes()
        for values, color, style, label in ((nominal, "black", "-", "Nominal"), (up, "tab:red", "--", f"{source} up"),
                                            (down, "tab:blue", ":", f"{source} down")):
            ax.stairs(values, edges, color=color, linestyle=style, linewidth=2.5, label=label)
            if values is not nominal:
                rax.stairs(values / safe, edges, baseline=None, color=color, linestyle=style, linewidth=2.5)
        decorate(ax, rax, edges, x_label, unit, category_label, lumi_fb, "Shift / nom.",
                  np.maximum(np.maximum(nominal, up), down))
        ratios = np.concatenate([up / safe, down / safe])
        spread = np.nanmax(np.abs(ratios - 1)) if np.any(np.isfinite(ratios)) else 0.0
        half = min(max(1.3 * spread, 0.05), 1.0)
        rax.set_ylim(1 - half, 1 + half)
        ax.legend(loc="upper right", fontsize="small", frameon=False)
        save(fig, path)


def plot_limits(path, config, limits):
    """Expected 95 % CL limits on the signal strength versus mediator mass with the usual green
    (68 %) and yellow (95 %) bands, the observed limit where unblinded, and mu = 1 for reference.

    limits: {signal: {"expected", "minus2", "minus1", "plus1", "plus2", "observed" (or None)}};
    the masses are the signal processes' ``mediator_mass``, the luminosity the config's.
    """
    masses = {signal: config.get_process(signal).x.mediator_mass for signal in limits}
    lumi_fb = config.x.luminosity.nominal / 1000.0
    order = sorted(masses, key=masses.get)
    x = np.array([masses[s] for s in order], dtype=float)
    get = lambda key: np.array([limits[s][key] for s in order], dtype=float)  # noqa: E731
    with plt.style.context(mplhep.style.CMS):
        fig, ax = plt.subplots(figsize=FIGSIZE)
        ax.fill_between(x, get("minus2"), get("plus2"), color="#F5BB54", label=r"Expected $\pm$ 2 s.d.")
        ax.fill_between(x, get("minus1"), get("plus1"), color="#607641", label=r"Expected $\pm$ 1 s.d.")
        ax.plot(x, get("expected"), color="black", linestyle="--", label="Median expected")
        if all(limits[s]["observed"] is not None for s in order):
            ax.plot(x, get("observed"), color="black", marker="o", label="Observed")
        ax.axhline(1.0, color="red", linewidth=1.5, label=r"$\mu = 1$")
        ax.set_yscale("log")
        ax.set_xlabel(r"Mediator mass $m_{\phi}$ [GeV]")
        ax.set_ylabel(r"95% CL upper limit on $\mu = \sigma / \sigma_{\mathrm{theory}}$")
        ax.legend(loc="upper left", frameon=False)
        mplhep.cms.label(LABEL_TEXT, ax=ax, data=True, lumi=lumi_fb, lumi_format="{0:.1f}", com=COM, loc=0)
        low, high = ax.get_ylim()
        ax.set_ylim(low, high * 30)  # room for the legend
        save(fig, path)
