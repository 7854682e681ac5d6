"""KerasCV's tutorial table on this machine, and our own speed figures.

    settings   what to run: the tutorial's defaults and the four configurations
    system     device, library versions, peak memory while a block runs
    kerascv    KerasCV's own StableDiffusion wired to the engine's built components
    runner     cold and warm runs per configuration, ours against KerasCV's
    report     the printed table and the JSON document
    chart      the bar chart PNG (Pillow only)
    app        the app-level figures (window, first image, GUI stalls, history)

Nothing here knows about Qt; the GUI's dialog and the CLI both call `runner.run`.
"""
