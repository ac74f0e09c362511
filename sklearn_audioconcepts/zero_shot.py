"""Zero-shot classification of embeddings against text prompts of the classes."""

from numbers import Real

import numpy as np
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._numerics import unit_rows
from ._validation import check_embeddings

__all__ = ["ZeroShotClassifier"]

_CLAP_LOGIT_SCALE = 100.0


class ZeroShotClassifier(ClassifierMixin, BaseEstimator):
    """Classify embeddings by their cosine similarity to class prompts.

    Each class ``c`` is represented by the text embedding of
    ``template.format(c)`` (e.g. "This is a sound of dog barking."), from
    the same model that embedded the audio; a clip gets the class whose
    prompt embedding is most similar to its embedding, and probabilities are
    ``softmax(logit_scale * cosine)``. Nothing is learned from labels, so
    dense CLAP embeddings and concept reconstructions
    (:meth:`ConceptDecomposer.inverse_transform`) are scored on equal terms.

    Parameters
    ----------
    class_names : sequence of str or None
        The classes, as labels (``y`` values) and as text put in the prompt.
        ``None`` takes them from the labels ``y`` given to :meth:`fit` (which
        must then be class names themselves).
    template : str, default="This is a sound of {}."
        Prompt with one ``"{}"`` for the class name (LAION-CLAP's
        zero-shot prompt).
    embedder : object with ``embed_text`` or None, default=None
        Text encoder (e.g. a :class:`CLAPEmbedder`) used in :meth:`fit` to
        embed the prompts. Ignored when ``text_embeddings`` is given.
    text_embeddings : array-like of shape (n_classes, n_features) or None, \
default=None
        Prompt embeddings computed beforehand, one row per class name.
    logit_scale : float, default=100.0
        Inverse temperature of the softmax (CLAP's is 100); it changes
        ``predict_proba`` but not ``predict``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class names.
    class_embeddings_ : ndarray of shape (n_classes, n_features)
        Unit-norm prompt embeddings.
    prompts_ : list of str
        The prompts embedded (empty when ``text_embeddings`` was given).
    n_features_in_ : int
        Embedding dimension.

    See Also
    --------
    CLAPEmbedder : Audio and text embeddings from LAION-CLAP.
    ConceptDecomposer : Concept weights whose reconstructions can be scored.
    sklearn_audioconcepts.retrieval.retrieval_scores : Text-audio retrieval.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.zero_shot import ZeroShotClassifier
    >>> prompts = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> clf = ZeroShotClassifier(["dog", "rain"], text_embeddings=prompts)
    >>> X = np.array([[0.9, 0.1, 0.2], [0.2, 0.8, 0.1]])
    >>> clf.fit(X).predict(X)
    array(['dog', 'rain'], dtype='<U4')
    >>> clf.score(X, ["dog", "rain"])
    1.0
    """

    _parameter_constraints: dict = {
        "class_names": ["array-like", None],
        "template": [str],
        "embedder": "no_validation",
        "text_embeddings": ["array-like", None],
        "logit_scale": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        class_names,
        *,
        template="This is a sound of {}.",
        embedder=None,
        text_embeddings=None,
        logit_scale=_CLAP_LOGIT_SCALE,
    ):
        self.class_names = class_names
        self.template = template
        self.embedder = embedder
        self.text_embeddings = text_embeddings
        self.logit_scale = logit_scale

    def fit(self, X, y=None):
        """Embed the class prompts; no labels are needed.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings; only their dimension is used.
        y : array-like of shape (n_samples,), default=None
            Optional labels, checked to be class names (or, with
            ``class_names=None``, the source of the classes).

        Returns
        -------
        self : ZeroShotClassifier
            Fitted classifier.
        """
        self._validate_params()
        if y is None:
            validate_data(self, X, reset=True, dtype=(np.float64, np.float32))
        else:
            _, y = validate_data(self, X, y, reset=True, dtype=(np.float64, np.float32))
            check_classification_targets(y)
        if self.class_names is None:
            if y is None:
                raise ValueError(
                    "class_names=None takes the classes from y; pass y to fit or "
                    "give class_names."
                )
            classes = np.unique(np.asarray(y))
        else:
            classes = np.asarray(self.class_names)
        if classes.ndim != 1 or len(classes) < 2:
            raise ValueError(
                "A zero-shot classifier needs at least 2 class names; got "
                f"{classes.size} class(es): {classes.tolist()!r}."
            )
        if len(np.unique(classes)) != len(classes):
            raise ValueError("class_names has duplicates; each class needs one name.")
        if y is not None:
            unknown = np.setdiff1d(np.asarray(y), classes)
            if len(unknown):
                raise ValueError(
                    "y has labels that are not in class_names: "
                    f"{unknown[:5].tolist()}. "
                    "A zero-shot classifier only predicts the classes it is given."
                )
        self.prompts_, embeddings = self._class_embeddings(classes)
        if embeddings.shape != (len(classes), self.n_features_in_):
            raise ValueError(
                f"The class prompt embeddings have shape {embeddings.shape}; expected "
                f"({len(classes)}, {self.n_features_in_}): one row per class name, "
                "as wide as X."
            )
        self.classes_ = classes
        self.class_embeddings_ = unit_rows(embeddings)
        return self

    def decision_function(self, X):
        """Cosine similarity of each embedding to each class prompt.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes)
            Cosine similarities, columns in the order of ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        X = check_embeddings(X, name="X", reject_zero_rows=True)
        return unit_rows(X) @ self.class_embeddings_.T

    def predict_proba(self, X):
        """Softmax of ``logit_scale`` times the cosine similarities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Class probabilities, columns in the order of ``classes_``.
        """
        return softmax(self.logit_scale * self.decision_function(X), axis=1)

    def predict(self, X):
        """The class whose prompt is most similar to each embedding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predicted class names.
        """
        scores = self.decision_function(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Classes come from class_names, not from y: fit needs no labels.
        tags.target_tags.required = False
        return tags

    def _class_embeddings(self, classes):
        if self.text_embeddings is not None:
            return [], check_embeddings(self.text_embeddings, name="text_embeddings")
        if self.embedder is None or not hasattr(self.embedder, "embed_text"):
            raise ValueError(
                "Give the class prompt embeddings: an embedder with an embed_text "
                "method (e.g. CLAPEmbedder) or text_embeddings."
            )
        if not isinstance(self.template, str) or self.template.count("{}") != 1:
            raise ValueError(
                f"template must contain one '{{}}' for the class name, got "
                f"{self.template!r}."
            )
        prompts = [self.template.replace("{}", str(name)) for name in classes]
        embeddings = np.asarray(self.embedder.embed_text(prompts), dtype=np.float64)
        return prompts, check_embeddings(embeddings, name="prompt embeddings")
