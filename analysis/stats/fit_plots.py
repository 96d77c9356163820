"""CMS-style figures of the fits after the limit (FitDiagnostics, Impacts, GoodnessOfFit,
LikelihoodScan): plain functions on numbers and arrays, drawn and written as the Plots
task's figures are (analysis/stats/plots.py: the style, the label and path.{png,pdf})."""

import matplotlib.pyplot as plt
import mplhep
import numpy as np

from analysis.stats.plots import COM, LABEL_TEXT, axes, decorate, save, to_color

FIGSIZE = (10, 10)


def label(ax, lumi_fb, fontsize=None):
    mplhep.cms.label(LABEL_TEXT, ax=ax, data=True, lumi=lumi_fb, lumi_format="{0:.1f}", com=COM, loc=0,
                     fontsize=fontsize)


def plot_pulls(path, names, fits, lumi_fb):
    """Each nuisance's fitted value and Hesse error in units of its prior, per fit
    (``fits``: {label: {name: (value, error)}}), against the prior band of +-1."""
    height = max(6.0, 0.32 * len(names) + 2)
    with plt.style.context(mplhep.style.CMS):
        fig, ax = plt.subplots(figsize=(10, height))
        y = np.arange(len(names))[::-1]
        ax.axvspan(-1, 1, color="#cccccc", alpha=0.6, label="Prior $\\pm$1")
        ax.axvline(0.0, color="black", linewidth=1)
        offsets = np.linspace(-0.15, 0.15, len(fits))
        for (fit_label, values), offset, color in zip(fits.items(), offsets, ("tab:blue", "tab:red", "tab:green")):
            v = np.array([values[n][0] for n in names])
            e = np.array([values[n][1] for n in names])
            ax.errorbar(v, y + offset, xerr=e, fmt="o", color=color, markersize=5, label=fit_label)
        ax.set_yticks(y, names, fontsize="x-small")
        ax.set_xlabel(r"$(\hat{\theta} - \theta_0) / \Delta\theta$")
        ax.set_xlim(-3, 3)
        ax.legend(loc="lower right", fontsize="x-small", frameon=True)
        label(ax, lumi_fb, fontsize=16)
        fig.tight_layout()
        save(fig, path)


def plot_correlations(path, names, matrix, lumi_fb, largest=20):
    """The correlation matrix of the ``largest`` parameters by their largest correlation with
    another (``names``, ``matrix``)."""
    matrix = np.asarray(matrix, float)
    off = np.abs(matrix - np.diag(np.diag(matrix)))
    chosen = sorted(np.argsort(-off.max(axis=1))[:largest])
    picked = matrix[np.ix_(chosen, chosen)]
    with plt.style.context(mplhep.style.CMS):
        fig, ax = plt.subplots(figsize=(12, 11))
        image = ax.imshow(picked, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks(range(len(chosen)), [names[i] for i in chosen], rotation=90, fontsize="xx-small")
        ax.set_yticks(range(len(chosen)), [names[i] for i in chosen], fontsize="xx-small")
        for a in range(len(chosen)):
            for b in range(len(chosen)):
                ax.text(b, a, f"{picked[a, b]:.2f}", ha="center", va="center", fontsize=6)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Correlation")
        label(ax, lumi_fb, fontsize=16)
        fig.tight_layout()
        save(fig, path)


def plot_postfit(path, edges, backgrounds, prefit, postfit, data, category_label, x_label, unit, lumi_fb, note=None):
    """Post-fit backgrounds stacked (``backgrounds``: [(label, color, values)]), the post-fit
    total's band (``postfit``: (values, errors)), the pre-fit total and its band (``prefit``),
    the data (None: none to show, ``note`` says why) and data over the post-fit prediction."""
    edges = np.asarray(edges, float)
    centers = 0.5 * (edges[1:] + edges[:-1])
    post, post_error = (np.asarray(v, float) for v in postfit)
    pre, pre_error = (np.asarray(v, float) for v in prefit)
    with plt.style.context(mplhep.style.CMS):
        fig, ax, rax = axes()
        total = np.zeros(len(centers))
        for name, color, values in backgrounds:
            values = np.asarray(values, float)
            ax.stairs(total + values, edges, baseline=total.copy(), fill=True, color=to_color(color), label=name)
            total = total + values
        ax.stairs(post + post_error, edges, baseline=post - post_error, fill=True, facecolor="none", edgecolor="dimgray",
                  hatch="///", linewidth=0, label="Post-fit unc.")
        ax.stairs(pre, edges, color="tab:blue", linestyle="--", linewidth=2, label="Pre-fit")
        ax.stairs(pre + pre_error, edges, baseline=pre - pre_error, fill=True, color="tab:blue", alpha=0.15,
                  label="Pre-fit unc.")
        safe = np.where(post > 0, post, np.nan)
        rax.stairs(1 + post_error / safe, edges, baseline=1 - post_error / safe, fill=True, facecolor="none",
                   edgecolor="dimgray", hatch="///", linewidth=0)
        rax.stairs(pre / safe, edges, color="tab:blue", linestyle="--", linewidth=2)
        ymax = np.maximum(post + post_error, pre + pre_error)
        if data is not None:
            data = np.asarray(data, float)
            error = np.sqrt(np.maximum(data, 0.0))
            ax.errorbar(centers, data, yerr=error, fmt="o", color="black", markersize=6, label="Data")
            rax.errorbar(centers, data / safe, yerr=error / safe, fmt="o", color="black", markersize=6)
            ymax = np.maximum(ymax, data + error)
        positive = [np.asarray(v, float) for _, _, v in backgrounds]
        lowest = min((v[v > 0].min() for v in positive if np.any(v > 0)), default=0.0)
        decorate(ax, rax, edges, x_label, unit, category_label, lumi_fb, "Data / post-fit" if data is not None
                 else "Pre-fit / post-fit", ymax, log=True, lowest=lowest)
        if note:
            ax.text(0.04, 0.90, note, transform=ax.transAxes, ha="left", va="top", fontsize="small")
        ax.legend(loc="upper right", ncols=2, fontsize="small", frameon=False)
        rax.set_ylim(0.5, 1.5)
        save(fig, path)


def plot_impacts(path, impacts, lumi_fb, largest=30):
    """The ``largest`` impacts on r of a combineTool-format ``impacts`` (its params), ranked,
    each parameter's pull (fitted value and interval, in units of its prefit interval)
    beside its impact (the change of r at each end of its interval)."""
    params = sorted(impacts["params"], key=lambda p: -p["impact_r"])[:largest][::-1]
    names = [p["name"] for p in params]
    y = np.arange(len(params))
    best_r = impacts["POIs"][0]["fit"][1]
    with plt.style.context(mplhep.style.CMS):
        fig, (pull_ax, impact_ax) = plt.subplots(1, 2, figsize=(14, max(6.0, 0.35 * len(params) + 2)), sharey=True,
                                                 gridspec_kw={"wspace": 0.05})
        for k, p in enumerate(params):
            low, best, high = p["fit"]
            pre_low, pre, pre_high = p["prefit"]
            scale = (pre_high - pre_low) / 2 or 1.0
            pull_ax.errorbar([(best - pre) / scale], [k], xerr=[[(best - low) / scale], [(high - best) / scale]],
                             fmt="o", color="black", markersize=5)
            r_low, _, r_high = p["r"]
            impact_ax.barh(k, r_high - best_r, color="tab:red", alpha=0.6, label=r"$+1\sigma$ impact" if k == 0 else None)
            impact_ax.barh(k, r_low - best_r, color="tab:blue", alpha=0.6, label=r"$-1\sigma$ impact" if k == 0 else None)
        pull_ax.axvspan(-1, 1, color="#dddddd")
        pull_ax.set_yticks(y, names, fontsize="x-small")
        pull_ax.set_xlabel(r"$(\hat{\theta} - \theta_0) / \Delta\theta$")
        pull_ax.set_xlim(-2.5, 2.5)
        impact_ax.axvline(0.0, color="black", linewidth=1)
        impact_ax.set_xlabel(r"$\Delta\hat{r}$")
        impact_ax.legend(loc="lower right", fontsize="small", frameon=False)
        low, best, high = impacts["POIs"][0]["fit"]
        impact_ax.set_title(rf"$\hat{{r}} = {best:.3g}^{{+{high - best:.2g}}}_{{-{best - low:.2g}}}$", fontsize="small")
        label(pull_ax, lumi_fb, fontsize=16)
        fig.subplots_adjust(left=0.34, right=0.97, bottom=0.08, top=0.93)
        save(fig, path)


def plot_goodness(path, toys, observed, p_value, lumi_fb):
    """The toys' saturated statistics as a histogram with the observed value and p-value."""
    with plt.style.context(mplhep.style.CMS):
        fig, ax = plt.subplots(figsize=FIGSIZE)
        toys = np.asarray(toys, float)
        low, high = min(toys.min(initial=observed), observed), max(toys.max(initial=observed), observed)
        ax.hist(toys, bins=40, range=(low - 0.05 * (high - low), high + 0.05 * (high - low)), histtype="stepfilled",
                color="#99bbdd", edgecolor="black", label=f"{len(toys)} toys")
        ax.axvline(observed, color="tab:red", linewidth=3, label=f"observed {observed:.2f}, p = {p_value:.3f}")
        ax.set_xlabel(r"$-2\ln\lambda_{\mathrm{saturated}}$")
        ax.set_ylabel("Toys")
        ax.legend(loc="upper right", frameon=False)
        label(ax, lumi_fb)
        save(fig, path)


def plot_scan(path, points, best, intervals, lumi_fb):
    """2 delta NLL of r (``points``: [[r, value], ...]) with the 68 % and 95 % levels and the
    intervals read from it."""
    r, values = (np.array(v, float) for v in zip(*sorted(points + [[best, 0.0]])))
    with plt.style.context(mplhep.style.CMS):
        fig, ax = plt.subplots(figsize=FIGSIZE)
        ax.plot(r, values, "o-", color="black", markersize=4, label="Profile likelihood")
        for level, name, color in ((1.0, "68", "tab:green"), (3.84, "95", "tab:orange")):
            ax.axhline(level, color=color, linestyle="--", linewidth=1.5)
            low, high = intervals[name]
            ax.axvspan(low, high, color=color, alpha=0.12, label=f"{name} %: [{low:.3g}, {high:.3g}]")
        ax.set_xlabel(r"$r$")
        ax.set_ylabel(r"$2\Delta\mathrm{NLL}$")
        ax.set_ylim(0, max(5.0, 1.2 * float(np.max(values))))
        ax.legend(loc="upper center", frameon=False)
        label(ax, lumi_fb)
        save(fig, path)


def diagnostics_figures(config, model, results, fit_results, directory):
    """The figures of a card's fit diagnostics (analysis.stats.diagnostics) in ``directory``:
    {"pulls", "correlations", "postfit_<category>": path without extension}. The pulls show
    the card's nuisances (the MC-statistics parameters are in the JSON), the correlations
    those of the s+b fit."""
    import os

    lumi_fb = config.x.luminosity.nominal / 1000.0
    figures = {}
    names = list(model.nuisances)
    fits = {label: {n: (results[key]["nuisances"][n]["value"], results[key]["nuisances"][n]["error"]) for n in names}
            for key, label in (("fit_b", "B-only fit"), ("fit_s", "S+B fit"))}
    figures["pulls"] = os.path.join(directory, "pulls")
    plot_pulls(figures["pulls"], names, fits, lumi_fb)
    signal = fit_results["fit_s"]
    figures["correlations"] = os.path.join(directory, "correlations")
    chosen = [k for k, n in enumerate(signal.names) if n == "r" or n in model.nuisances]
    plot_correlations(figures["correlations"], [signal.names[k] for k in chosen],
                      signal.correlation()[np.ix_(chosen, chosen)], lumi_fb)
    variable = config.get_variable(config.x.fit_variable)
    edges = variable.bin_edges
    backgrounds = list(dict.fromkeys(p for (_, p), signal in zip(model.column_names, model.column_signal) if not signal))
    for category in dict.fromkeys(b for b, _ in model.bins):
        bins = [k for k, (b, _) in enumerate(model.bins) if b == category]
        post, pre = results["bins"]["fit_b"][category], results["bins"]["prefit"][category]
        stacked = [(config.get_process(p).label, config.get_process(p).color, post[p]["values"])
                   for p in backgrounds if p in post]
        observed = results["data"] == "observed" and category not in config.x.blinded_categories
        base = os.path.join(directory, f"postfit_{category}")
        plot_postfit(base, edges, stacked, (pre["total_background"]["values"], pre["total_background"]["errors"]),
                     (post["total_background"]["values"], post["total_background"]["errors"]),
                     model.data[bins] if observed else None, f"{category}, b-only fit", variable.x_title,
                     variable.unit, lumi_fb, note=None if observed else "Asimov data (background only)")
        figures[f"postfit_{category}"] = base
    return figures
