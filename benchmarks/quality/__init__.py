"""The continual stream and what it is measured against: the headline run (``continual``, with its
``continual_eval`` and ``continual_parts``), add-domain and the stream's cost against fine-tuning
(sharing ``finetune``), the gate from stored data, routers and fusion (``quality_lab`` with
``lab_routes``) and the router's input."""
