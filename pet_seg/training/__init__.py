"""The training machinery, together: ``loop`` (the epoch loop, read top to bottom), ``settings``
(the ``trainer`` group as a typed object), ``machinery`` (loaders, optimizer, scheduler, scaler,
DDP built from it), ``schedule`` (when a scheduler steps), ``checkpoint`` (what best.pt / last.pt
hold and how they are written), ``conventions`` (which averages a run acts on),
``distributed`` (DDP ranks and reductions) and ``job_scope`` (what each sweep job releases)."""
